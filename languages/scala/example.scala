object Main extends App {
  println("Hello from Runnel!")
}
