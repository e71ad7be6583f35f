/* What a process sees of how it was started: argv, the environment, ids, supplementary
 * groups, working directory (and its mode and owner), umask and hostname.
 *
 * Built static by the entrypoint conformance test and run as an image's entrypoint, once
 * under runc and once under the agent. Each fact is one line, "probe|KEY|VALUE", written
 * with one write(2), so the agent's own log lines on the same pipe never split one. */
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char **environ;

static void emit(const char *key, const char *value) {
    char line[4096];
    size_t n = (size_t)snprintf(line, sizeof line - 8, "probe|%s|", key);
    for (const char *c = value; *c && n < sizeof line - 8; c++) {
        if (*c == '\n') {
            line[n++] = '\\';
            line[n++] = 'n';
        } else if (*c == '\\') {
            line[n++] = '\\';
            line[n++] = '\\';
        } else {
            line[n++] = *c;
        }
    }
    line[n++] = '\n';
    if (write(1, line, n) != (ssize_t)n)
        _exit(3);
}

int main(int argc, char **argv) {
    char text[4096];
    for (int i = 0; i < argc; i++)
        emit("argv", argv[i]);
    for (char **e = environ; *e; e++)
        emit("env", *e);
    snprintf(text, sizeof text, "%d %d", (int)getuid(), (int)geteuid());
    emit("uid", text);
    snprintf(text, sizeof text, "%d %d", (int)getgid(), (int)getegid());
    emit("gid", text);
    gid_t groups[NGROUPS_MAX];
    int count = getgroups(NGROUPS_MAX, groups);
    size_t n = 0;
    text[0] = '\0';
    for (int i = 0; i < count && n < sizeof text - 16; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, i ? " %d" : "%d", (int)groups[i]);
    emit("groups", text);
    emit("cwd", getcwd(text, sizeof text) ? text : "?");
    struct stat st;
    if (stat(".", &st) == 0) {
        snprintf(text, sizeof text, "%o %d %d", (unsigned)(st.st_mode & 07777), (int)st.st_uid,
                 (int)st.st_gid);
        emit("cwd_stat", text);
    }
    mode_t mask = umask(0);
    snprintf(text, sizeof text, "%04o", (unsigned)mask);
    emit("umask", text);
    struct utsname name;
    emit("nodename", uname(&name) == 0 ? name.nodename : "?");
    emit("end", "");
    return 0;
}
