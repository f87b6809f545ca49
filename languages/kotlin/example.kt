fun main() {
    println("Hello from Runnel!")
}
