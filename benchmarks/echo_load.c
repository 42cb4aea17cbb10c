/* Echo load generator for bench_echo.py: N connections, each sending a SIZE-byte message and
 * waiting for the whole echo before sending the next (a round trip), for DURATION seconds.
 * Prints the number of completed round trips. Loopback only: the address is 127.0.0.1.
 *
 *   echo_load PORT CONNECTIONS SIZE DURATION_SECONDS
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    int received;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT CONNECTIONS SIZE SECONDS\n", argv[0]);
        return 64;
    }
    int port = atoi(argv[1]), count = atoi(argv[2]), size = atoi(argv[3]);
    double duration = atof(argv[4]);
    if (port <= 0 || count <= 0 || size <= 0 || size > 65536 || duration <= 0) {
        fprintf(stderr, "echo_load: bad arguments\n");
        return 64;
    }
    char *message = malloc(size), *buffer = malloc(65536);
    memset(message, 'x', size);
    struct conn *conns = calloc(count, sizeof *conns);
    int ep = epoll_create1(0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    for (int i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
            perror("echo_load: connect");
            return 69;
        }
        conns[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    long long trips = 0;
    struct epoll_event events[256];
    double start = now(), end = start + duration;
    for (int i = 0; i < count; i++) {
        if (send(conns[i].fd, message, size, 0) != size) {
            perror("echo_load: send");
            return 74;
        }
    }
    while (now() < end) {
        int n = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            ssize_t got = recv(c->fd, buffer, 65536, 0);
            if (got <= 0) {
                fprintf(stderr, "echo_load: connection closed by the server\n");
                return 74;
            }
            c->received += (int)got;
            while (c->received >= size) {
                c->received -= size;
                trips++;
                if (send(c->fd, message, size, 0) != size) {
                    perror("echo_load: send");
                    return 74;
                }
            }
        }
    }
    double elapsed = now() - start;
    printf("%lld %.6f\n", trips, elapsed);
    for (int i = 0; i < count; i++) close(conns[i].fd);
    return 0;
}
