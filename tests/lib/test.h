/*
 * test.h — the project's minimal C test harness, shared by the unit and
 * integration tests (the Makefile adds -Itests/lib for every test).
 *
 * A test is a void function; CHECK fails it and returns at the first false
 * condition. Each test prints one line, "ok <suite>: <name>" or
 * "not ok <suite>: <name> (<file>:<line>: <condition>)"; tests/run.sh counts
 * these lines across every suite. A suite exits non-zero if any test failed,
 * so a crash or a sanitizer report (which also exits non-zero) is counted as
 * a failure even when it hides the lines.
 *
 *     TEST(parses_insert) { CHECK(dbop_parse(...) == 0); }
 *     int main(void) { RUN(parses_insert); return test_done(); }
 */
#ifndef RS_TEST_H
#define RS_TEST_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int test_failed_count, test_current_failed;
/* The suite is named after its binary unless main sets another name. */
static const char *test_suite;
#define TEST_SUITE_NAME (test_suite ? test_suite : program_invocation_short_name)

#define TEST(name) static void name(void)

#define CHECK(cond) do { \
    if (!(cond)) { \
        printf("not ok %s: %s (%s:%d: %s)\n", TEST_SUITE_NAME, test_current_name, __FILE__, __LINE__, #cond); \
        test_current_failed = 1; return; \
    } } while (0)

#define CHECK_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) { \
        printf("not ok %s: %s (%s:%d: %s == %s: %lld != %lld)\n", TEST_SUITE_NAME, test_current_name, \
               __FILE__, __LINE__, #a, #b, a_, b_); \
        test_current_failed = 1; return; \
    } } while (0)

#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
        printf("not ok %s: %s (%s:%d: %s == %s: \"%s\" != \"%s\")\n", TEST_SUITE_NAME, test_current_name, \
               __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
        test_current_failed = 1; return; \
    } } while (0)

static const char *test_current_name = "";

#define RUN(fn) do { \
    test_current_name = #fn; test_current_failed = 0; \
    fn(); \
    if (test_current_failed) test_failed_count++; \
    else printf("ok %s: %s\n", TEST_SUITE_NAME, #fn); \
    fflush(stdout); \
    } while (0)

static inline int test_done(void) { return test_failed_count ? 1 : 0; }

/* Removes a suite's temporary directory (from mkdtemp) and the files in it. */
static inline void test_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d) closedir(d);
    rmdir(dir);
}

#endif
