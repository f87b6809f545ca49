#include <iostream>

int main() {
    std::cout << "Hello from Runnel!" << std::endl;
}
