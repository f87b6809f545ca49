program hello
    print *, "Hello from Runnel!"
end program hello
