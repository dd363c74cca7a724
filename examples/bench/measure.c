/*
 * Runs a program the way inetd would (same standard input), waits for it,
 * and appends one line to a file: nanoseconds from fork to reap, and the
 * child's peak resident set size in KiB, its CPU time (user and system)
 * in microseconds, and its exit status.
 *
 * usage: measure OUTFILE PROGRAM [ARG...]   (the program's argv[0] is PROGRAM)
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec start, end;
	struct rusage usage;
	int status;
	pid_t pid;
	FILE *out;

	if (argc < 3)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &start);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		execv(argv[2], &argv[2]);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &usage) < 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &end);
	out = fopen(argv[1], "a");
	if (out == NULL)
		return 1;
	fprintf(out, "%lld %ld %lld %d\n",
	    (long long)(end.tv_sec - start.tv_sec) * 1000000000LL +
	    (end.tv_nsec - start.tv_nsec),
	    usage.ru_maxrss,
	    (long long)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000LL +
	    usage.ru_utime.tv_usec + usage.ru_stime.tv_usec,
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128);
	fclose(out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
