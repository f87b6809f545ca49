#include <stdio.h>

int main(void) {
    printf("Hello from Runnel!\n");
    return 0;
}
