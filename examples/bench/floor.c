/*
 * The floor the benchmark compares the helper's start-up with: a trivial
 * dynamically linked C program started by the same inetd line type
 * ("dgram udp wait"). It reads the one datagram queued on standard input,
 * sends it back to its sender (so the client sees it ran), and exits.
 */
#include <sys/socket.h>
#include <netinet/in.h>

int main(void)
{
	char buf[1024];
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);
	ssize_t n = recvfrom(0, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
	if (n < 0)
		return 1;
	return sendto(0, buf, (size_t)n, 0, (struct sockaddr *)&from, len) < 0;
}
