main :: IO ()
main = putStrLn "Hello from Runnel!"
