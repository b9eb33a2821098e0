// euid prints the ids it runs with: as a setuid binary owned by the
// container's root it shows whether the bit took effect.
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("euid=%d uid=%d\n", (int)geteuid(), (int)getuid());
	return 0;
}
