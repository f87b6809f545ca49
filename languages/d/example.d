import std.stdio;

void main() {
    writeln("Hello from Runnel!");
}
