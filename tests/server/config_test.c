/* config_test.c: the flags (server/config.c). --help is printed from the
 * same table the parser reads: every flag the table holds is listed by
 * --help (with its range, for numbers) and accepted by the parser with its
 * sample value, in both spellings; every flag --help lists is in the
 * table; defaults, bad values and unknown flags. */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <stdio.h>

#include "config.h"

/* --help as a string (caller frees). */
static char *usage_text(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    config_usage(f);
    fclose(f);
    return text;
}

/* s with every run of blanks and newlines made one space (help text is
 * wrapped), in place. */
static char *squeeze(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++)
        if (!(*r == ' ' || *r == '\n') || (w > s && w[-1] != ' '))
            *w++ = *r == '\n' ? ' ' : *r;
    *w = 0;
    return s;
}

static int parse(config *cfg, const char *a, const char *b, const char *c)
{
    char *argv[] = {"gocd", (char *)a, (char *)b, (char *)c, NULL};
    int argc = 1 + (a != NULL) + (b != NULL) + (c != NULL);
    /* the parser's errors go to stderr: keep TAP's stdout clean */
    return config_parse(cfg, argc, argv);
}

static void test_help_lists_every_flag(void)
{
    char *help = squeeze(usage_text());
    for (size_t i = 0; i < config_nflags; i++) {
        const config_flag *fl = &config_flags[i];
        char want[96];
        snprintf(want, sizeof want, "%s %s ", fl->name, fl->value);
        CHECK_STR_CONTAINS(help, want);
        CHECK_STR_CONTAINS(help, fl->help);
        if (fl->kind == CONFIG_INT) {
            snprintf(want, sizeof want, "[%lld..%lld]", (long long)fl->min, (long long)fl->max);
            CHECK_STR_CONTAINS(help, want);
        }
    }
    CHECK_STR_CONTAINS(help, "--help, --version");
    free(help);
}

/* Every "  --name" at the start of a --help line is a flag of the table. */
static void test_help_lists_only_the_table(void)
{
    char *help = usage_text();
    size_t listed = 0;
    for (char *line = strtok(help, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "  --", 4) != 0 || strncmp(line, "  --help", 8) == 0)
            continue;
        char name[64];
        CHECK(sscanf(line, " %63s", name) == 1);
        bool found = false;
        for (size_t i = 0; i < config_nflags; i++)
            found |= strcmp(config_flags[i].name, name) == 0;
        CHECK_MSG(found, "--help lists %s, which the parser does not know", name);
        listed++;
    }
    CHECK_EQ_UINT(listed, config_nflags);
    free(help);
}

static void test_every_flag_parses(void)
{
    for (size_t i = 0; i < config_nflags; i++) {
        const config_flag *fl = &config_flags[i];
        config cfg;
        /* the TLS addresses need a certificate and a key */
        CHECK_MSG(parse(&cfg, fl->name, fl->sample, "--log-level=info") == 0, "%s %s",
                  fl->name, fl->sample);
        char joined[128];
        snprintf(joined, sizeof joined, "%s=%s", fl->name, fl->sample);
        CHECK_MSG(parse(&cfg, joined, NULL, NULL) == 0, "%s", joined);
        if (fl->kind == CONFIG_INT) {
            int64_t v;
            memcpy(&v, (char *)&cfg + fl->field, sizeof v);
            CHECK_EQ_INT(v, strtoll(fl->sample, NULL, 10));
            char over[64];
            snprintf(over, sizeof over, "%s=%lld", fl->name, (long long)fl->max + 1);
            CHECK_MSG(parse(&cfg, over, NULL, NULL) == -1, "%s accepted", over);
            snprintf(over, sizeof over, "%s=%lld", fl->name, (long long)fl->min - 1);
            CHECK_MSG(parse(&cfg, over, NULL, NULL) == -1, "%s accepted", over);
        }
    }
}

static void test_defaults_and_errors(void)
{
    config cfg;
    CHECK_EQ_INT(parse(&cfg, NULL, NULL, NULL), 0);
    CHECK_EQ_STR(cfg.tcp, "127.0.0.1:7000");
    CHECK_EQ_STR(cfg.http, "127.0.0.1:8080");
    CHECK(cfg.tls == NULL && cfg.tcp_tls == NULL);
    CHECK_EQ_STR(cfg.db, "data/chat.db");
    CHECK_EQ_INT(cfg.max_frame, 1048576);
    CHECK_EQ_INT(cfg.rate, 50);
    CHECK_EQ_INT(cfg.outbox, 1024);
    CHECK_EQ_INT(cfg.read_timeout_ms, 10000);
    CHECK_EQ_INT(parse(&cfg, "--tcp", "off", NULL), 0);
    CHECK(cfg.tcp == NULL);
    CHECK_EQ_INT(parse(&cfg, "--allow-origin", "http://a", "--allow-origin=http://b"), 0);
    CHECK_EQ_INT(cfg.norigins, 2);
    CHECK_EQ_STR(cfg.origins[1], "http://b");
    CHECK_EQ_INT(parse(&cfg, "--nope", "1", NULL), -1);
    CHECK_EQ_INT(parse(&cfg, "--tcp", NULL, NULL), -1);         /* no value */
    CHECK_EQ_INT(parse(&cfg, "--tcp", "localhost", NULL), -1);  /* no port */
    CHECK_EQ_INT(parse(&cfg, "--procs", "two", NULL), -1);
    CHECK_EQ_INT(parse(&cfg, "--log-level", "loud", NULL), -1);
    CHECK_EQ_INT(parse(&cfg, "--tls", "127.0.0.1:0", NULL), -1); /* no --cert/--key */
    CHECK_EQ_INT(parse(&cfg, "stray", NULL, NULL), -1);
    CHECK_EQ_INT(parse(&cfg, "--tcp=off", "--http=off", NULL), -1); /* nothing to serve */
    CHECK_EQ_INT(parse(&cfg, "--tcp=off", "--http=off", "--tls=127.0.0.1:0"), -1); /* no cert */
    CHECK_EQ_INT(parse(&cfg, "--tcp=off", "--http", "127.0.0.1:0"), 0);
    static const char *const bad_origins[] = {"localhost:8080", "http://", "http://a/",
                                              "http://a/path", "ftp://a", "http://a:80x",
                                              "http://a b", "http://user@a", "http://a:"};
    for (size_t i = 0; i < sizeof bad_origins / sizeof bad_origins[0]; i++)
        CHECK_MSG(parse(&cfg, "--allow-origin", bad_origins[i], NULL) == -1, "%s accepted",
                  bad_origins[i]);
    CHECK_EQ_INT(parse(&cfg, "--allow-origin", "https://chat.example.org", NULL), 0);
    CHECK_EQ_INT(parse(&cfg, "--allow-origin", "http://[::1]:8080", NULL), 0);
}

static const test_case cases[] = {
    TEST_CASE(test_help_lists_every_flag),
    TEST_CASE(test_help_lists_only_the_table),
    TEST_CASE(test_every_flag_parses),
    TEST_CASE(test_defaults_and_errors),
    {0},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
