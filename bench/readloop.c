/* readloop.c: the cost of reading one small file, for `make bench`.
 *
 * open + read + close of FILE, N times in one process (no fork, no shell in
 * the way); prints the median of 5 batches in nanoseconds per read.
 *
 *   readloop FILE [N]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: readloop FILE [N]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 5000;
    long long per[5];
    char buf[4096];
    for (int b = 0; b < 5; b++) {
        long long t0 = now_ns();
        for (int i = 0; i < n; i++) {
            int fd = open(argv[1], O_RDONLY);
            if (fd < 0 || read(fd, buf, sizeof(buf)) < 0) {
                perror(argv[1]);
                return 1;
            }
            close(fd);
        }
        per[b] = (now_ns() - t0) / n;
    }
    qsort(per, 5, sizeof(per[0]), cmp);
    printf("%lld\n", per[2]);
    return 0;
}
