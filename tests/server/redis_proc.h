/* redis_proc.h: a real redis-server for the C tests, started on a free
 * loopback port with its data in a fresh temporary folder, stopped and
 * removed at the end. No mocks: the client is tested against Redis itself.
 *
 *   redis_proc r;
 *   if (redis_proc_start(&r, NULL) != 0) ...   (extra flags: NULL-terminated)
 *   ... "redis://127.0.0.1:" r.port ...
 *   redis_proc_signal(&r, SIGSTOP); ...
 *   redis_proc_stop(&r);
 *
 * Invariants: the process is always waited for; the folder is removed
 * with everything in it; only 127.0.0.1 is used. The server's standard
 * input, output and error are /dev/null (it logs to its folder): it must
 * not hold the test's output open. A test that dies without stopping it
 * (a crash, a sanitizer's report) would otherwise leave meson reading a
 * pipe that never ends, and the crash would show as a TIMEOUT minutes
 * later instead of as itself.
 */
#ifndef GOC_TESTS_REDIS_PROC_H
#define GOC_TESTS_REDIS_PROC_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct redis_proc {
    pid_t pid;         /* 0: not running */
    int port;
    char dir[64];      /* its data folder */
    char url[64];      /* redis://127.0.0.1:PORT */
    const char *extra[16]; /* the extra flags it was started with, for restarts */
} redis_proc;

/* A port the kernel had free a moment ago. */
static inline int redis_proc_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* True once something accepts on 127.0.0.1:port. */
static inline int redis_proc_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Kills the process (SIGKILL) and waits for it; the data stays. */
static inline void redis_proc_kill(redis_proc *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGCONT);
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
}

/* (Re)starts the server of r on r->port in r->dir. 0 or -1. */
static inline int redis_proc_spawn(redis_proc *r)
{
    char port[16], log[96];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    const char *argv[40] = {"redis-server", "--port", port, "--bind", "127.0.0.1",
                            "--dir", r->dir, "--save", "", "--daemonize", "no",
                            "--loglevel", "warning", "--logfile", log};
    int argc = 15;
    for (int i = 0; r->extra[i] && argc < 38; i++)
        argv[argc++] = r->extra[i];
    argv[argc] = NULL;
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -1;
    int rc = 0;
    for (int fd = 0; fd < 3 && rc == 0; fd++)
        rc = posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd ? O_WRONLY : O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawnp(&r->pid, "redis-server", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        r->pid = 0;
        return -1;
    }
    for (int i = 0; i < 500; i++) { /* 5 s */
        if (redis_proc_accepts(r->port))
            return 0;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    redis_proc_kill(r); /* not up in time: it must not outlive the test either */
    return -1;
}

/* Starts a fresh server; extra: more flags, NULL-terminated (may be NULL). */
static inline int redis_proc_start(redis_proc *r, const char *const *extra)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; extra && extra[i] && i < 15; i++)
        r->extra[i] = extra[i];
    snprintf(r->dir, sizeof r->dir, "/tmp/goc-redis-XXXXXX");
    if (!mkdtemp(r->dir))
        return -1;
    r->port = redis_proc_free_port();
    snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
    return r->port > 0 ? redis_proc_spawn(r) : -1;
}

static inline void redis_proc_signal(redis_proc *r, int sig)
{
    if (r->pid > 0)
        kill(r->pid, sig);
}

/* Kills the process and removes its folder. */
static inline void redis_proc_stop(redis_proc *r)
{
    redis_proc_kill(r);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", r->dir);
}

#endif
