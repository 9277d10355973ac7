/* test_ids.c - trace/span ids: validity, hex encoding, randomness, fork re-seeding. */
#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

static void test_generated_ids_are_valid_and_distinct(void **state)
{
    (void)state;
    dpt_trace_id prev = dpt_trace_id_generate();
    for (int i = 0; i < 10000; i++) {
        dpt_trace_id t = dpt_trace_id_generate();
        dpt_span_id s = dpt_span_id_generate();
        assert_true(dpt_trace_id_is_valid(&t));
        assert_true(dpt_span_id_is_valid(&s));
        assert_memory_not_equal(t.b, prev.b, 16);
        prev = t;
    }
}

static void test_hex_round_trip_is_lowercase(void **state)
{
    (void)state;
    dpt_trace_id t = dpt_trace_id_generate(), back;
    char hex[33];
    dpt_trace_id_to_hex(&t, hex);
    assert_int_equal(strlen(hex), 32);
    for (int i = 0; i < 32; i++)
        assert_true((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
    assert_int_equal(dpt_trace_id_from_hex(hex, 32, &back), DPT_OK);
    assert_memory_equal(t.b, back.b, 16);
    dpt_span_id s = dpt_span_id_generate(), sb;
    char sh[17];
    dpt_span_id_to_hex(&s, sh);
    assert_int_equal(dpt_span_id_from_hex(sh, 16, &sb), DPT_OK);
    assert_memory_equal(s.b, sb.b, 8);
}

static void test_hex_decode_rejects_bad_input(void **state)
{
    (void)state;
    dpt_trace_id t;
    dpt_span_id s;
    assert_int_equal(dpt_trace_id_from_hex("0123", 4, &t), DPT_EINVAL);
    assert_int_equal(dpt_trace_id_from_hex("0af7651916cd43dd8448eb211c80319g", 32, &t), DPT_EINVAL);
    assert_int_equal(dpt_span_id_from_hex("b7ad6b716920333", 15, &s), DPT_EINVAL);
    assert_int_equal(dpt_span_id_from_hex(NULL, 16, &s), DPT_EINVAL);
    assert_int_equal(dpt_trace_id_from_hex("00000000000000000000000000000000", 32, &t), DPT_OK);
    assert_false(dpt_trace_id_is_valid(&t));
    assert_false(dpt_trace_id_is_valid(NULL));
    assert_false(dpt_span_context_is_valid(NULL));
}

static void test_root_spans_carry_the_random_flag(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span s = dpt_span_start(tp.t, "root", DPT_SPAN_INTERNAL, NULL);
    dpt_span_context sc = dpt_span_get_context(s);
    assert_true(sc.flags & DPT_FLAG_RANDOM);
    assert_true(sc.flags & DPT_FLAG_SAMPLED);
    dpt_span_end(s);
    tprov_free(&tp);
}

/* Parent and forked child must not produce the same id stream. */
static void test_forked_child_gets_fresh_ids(void **state)
{
    (void)state;
    (void)dpt_trace_id_generate(); /* seed the parent's generator before fork */
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        dpt_trace_id ids[64];
        for (int i = 0; i < 64; i++)
            ids[i] = dpt_trace_id_generate();
        ssize_t w = write(fd[1], ids, sizeof ids);
        _exit(w == (ssize_t)sizeof ids ? 0 : 1);
    }
    close(fd[1]);
    dpt_trace_id parent[64], child[64];
    for (int i = 0; i < 64; i++)
        parent[i] = dpt_trace_id_generate();
    size_t got = 0;
    while (got < sizeof child) {
        ssize_t r = read(fd[0], (char *)child + got, sizeof child - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < 64; k++)
            assert_memory_not_equal(parent[i].b, child[k].b, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_ids_are_valid_and_distinct),
        cmocka_unit_test(test_hex_round_trip_is_lowercase),
        cmocka_unit_test(test_hex_decode_rejects_bad_input),
        cmocka_unit_test(test_root_spans_carry_the_random_flag),
        cmocka_unit_test(test_forked_child_gets_fresh_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
