// Runnel's warm Kotlin compiler. The warm pool starts it in a fresh sandbox ahead of any
// request (java source-file mode, kotlin-compiler.jar on the class path): it loads kotlinc and
// compiles a throwaway program once, so that the JIT has compiled the compiler, says so with a
// line on fd 4, then blocks on fd 3. The engine writes one launch request there,
//   {"main": "...", "argv": ["-nowarn", "-include-runtime", "-d", "main.jar", ..., "main.kt"]}
// and this process compiles exactly that, in the work directory, with the compiler's messages
// on stderr, and exits with kotlinc's exit code: to the engine it is the compile step's
// process, started early. It serves one compile, in one sandbox, for one run.
//
// argv: the Kotlin home (the kotlinc distribution).

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

public class RunnelWarmKotlinc {
    public static void main(String[] driverArgs) throws Exception {
        String home = driverArgs[0];
        // A program listing its work directory should not trip on the driver.
        Files.deleteIfExists(Paths.get(".runnel-warm-kotlinc.java"));
        Class<?> compilerClass = Class.forName("org.jetbrains.kotlin.cli.jvm.K2JVMCompiler");
        Method exec = compilerClass.getMethod("exec", PrintStream.class, String[].class);

        Path scratch = Files.createTempDirectory("runnel-warmup");
        Path source = scratch.resolve("warmup.kt");
        Files.write(source, "fun main() { val xs = listOf(1, 2, 3); println(xs.map { it * 2 }.sum()) }\n"
                .getBytes(StandardCharsets.UTF_8));
        PrintStream discard = new PrintStream(OutputStream.nullOutputStream());
        exec.invoke(compilerClass.getDeclaredConstructor().newInstance(), discard, new String[] {
            "-nowarn", "-include-runtime", "-kotlin-home", home,
            "-d", scratch.resolve("warmup.jar").toString(), source.toString()});
        for (Path path : new Path[] {source, scratch.resolve("warmup.jar"), scratch}) {
            Files.deleteIfExists(path);
        }

        // Ready: the pool counts this compiler from now on.
        try (java.io.FileOutputStream ready = new java.io.FileOutputStream("/proc/self/fd/4")) {
            ready.write('\n');
        }
        String line;
        try (BufferedReader launch = new BufferedReader(new InputStreamReader(
                new FileInputStream("/proc/self/fd/3"), StandardCharsets.UTF_8))) {
            line = launch.readLine();
        }
        if (line == null) {
            System.exit(0); // the sandbox is being torn down unused
        }
        List<String> args = new ArrayList<>();
        args.add("-kotlin-home");
        args.add(home);
        args.addAll(stringArray(line, "argv"));
        Object code = exec.invoke(compilerClass.getDeclaredConstructor().newInstance(), System.err,
                args.toArray(new String[0]));
        System.err.flush();
        System.exit((Integer) code.getClass().getMethod("getCode").invoke(code));
    }

    /** The array of strings under `key` in a one-line JSON object (the launch request). */
    static List<String> stringArray(String json, String key) {
        List<String> values = new ArrayList<>();
        int at = json.indexOf("\"" + key + "\"");
        if (at < 0) {
            return values;
        }
        at = json.indexOf('[', at) + 1;
        while (at > 0 && at < json.length()) {
            char c = json.charAt(at);
            if (c == ']') {
                break;
            }
            if (c != '"') {
                at++;
                continue;
            }
            StringBuilder value = new StringBuilder();
            at++;
            while (at < json.length() && json.charAt(at) != '"') {
                char d = json.charAt(at++);
                if (d != '\\') {
                    value.append(d);
                    continue;
                }
                char escaped = json.charAt(at++);
                switch (escaped) {
                    case 'n': value.append('\n'); break;
                    case 'r': value.append('\r'); break;
                    case 't': value.append('\t'); break;
                    case 'b': value.append('\b'); break;
                    case 'f': value.append('\f'); break;
                    case 'u':
                        value.append((char) Integer.parseInt(json.substring(at, at + 4), 16));
                        at += 4;
                        break;
                    default: value.append(escaped);
                }
            }
            values.add(value.toString());
            at++;
        }
        return values;
    }
}
