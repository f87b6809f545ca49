fn main() {
    println!("Hello from Runnel!");
}
