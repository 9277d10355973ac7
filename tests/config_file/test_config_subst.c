/* test_config_subst.c - environment variable substitution in configuration file values,
 * row by row from the table of configuration/data-model.md ("Environment variable
 * substitution"), plus the typing of the result by the YAML core schema. */
#include "test_util.h"

#include "tree.h"

/* The environment of the specification's examples. */
static const char *spec_env(const char *name)
{
    static const struct {
        const char *name, *value;
    } env[] = {
        {"STRING_VALUE", "value"},
        {"BOOL_VALUE", "true"},
        {"INT_VALUE", "1"},
        {"FLOAT_VALUE", "1.1"},
        {"HEX_VALUE", "0xdeadbeef"},
        {"INVALID_MAP_VALUE", "value\nkey:value"},
        {"DO_NOT_REPLACE_ME", "Never use this value"},
        {"REPLACE_ME", "${DO_NOT_REPLACE_ME}"},
        {"VALUE_WITH_ESCAPE", "value$$"},
        {"EMPTY", ""},
    };
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        if (strcmp(env[i].name, name) == 0) return env[i].value;
    return NULL;
}

/* Parses "key: <yaml>" and returns the value node (t keeps it). */
static const dpt__node *value_of(const char *yaml_value, dpt__tree *t, dpt_err *e,
                                 dpt__tree_error *err)
{
    char doc[256];
    snprintf(doc, sizeof doc, "key: %s\n", yaml_value);
    *e = dpt__tree_parse(doc, strlen(doc), spec_env, t, err);
    return *e == DPT_OK ? dpt__node_get(t->root, "key") : NULL;
}

static void expect(const char *in, const char *out, dpt__scalar_type type)
{
    dpt__tree t;
    dpt__tree_error err;
    dpt_err e;
    const dpt__node *n = value_of(in, &t, &e, &err);
    if (e != DPT_OK) fail_msg("'%s': %s", in, err.msg);
    assert_non_null(n);
    if (strcmp(n->s, out) != 0 || n->type != type)
        fail_msg("'%s' gave '%s' (type %d), want '%s' (type %d)", in, n->s, n->type, out, type);
    dpt__tree_free(&t);
}

/* Every row of the specification's table, in order. */
static void test_the_specification_table(void **state)
{
    (void)state;
    expect("${STRING_VALUE}", "value", DPT__S_STR);
    expect("${BOOL_VALUE}", "true", DPT__S_BOOL);
    expect("${INT_VALUE}", "1", DPT__S_INT);
    expect("${FLOAT_VALUE}", "1.1", DPT__S_FLOAT);
    expect("${HEX_VALUE}", "0xdeadbeef", DPT__S_INT);
    expect("\"${STRING_VALUE}\"", "value", DPT__S_STR);
    expect("\"${BOOL_VALUE}\"", "true", DPT__S_STR);
    expect("\"${INT_VALUE}\"", "1", DPT__S_STR);
    expect("\"${FLOAT_VALUE}\"", "1.1", DPT__S_STR);
    expect("\"${HEX_VALUE}\"", "0xdeadbeef", DPT__S_STR);
    expect("${env:STRING_VALUE}", "value", DPT__S_STR);
    expect("${INVALID_MAP_VALUE}", "value\nkey:value", DPT__S_STR);
    expect("foo ${STRING_VALUE} ${FLOAT_VALUE}", "foo value 1.1", DPT__S_STR);
    expect("${UNDEFINED_KEY}", "", DPT__S_NULL);
    expect("${UNDEFINED_KEY:-fallback}", "fallback", DPT__S_STR);
    expect("${REPLACE_ME}", "${DO_NOT_REPLACE_ME}", DPT__S_STR);
    expect("${UNDEFINED_KEY:-${STRING_VALUE}}", "${STRING_VALUE}", DPT__S_STR);
    expect("$${STRING_VALUE}", "${STRING_VALUE}", DPT__S_STR);
    expect("$$${STRING_VALUE}", "$value", DPT__S_STR);
    expect("$$$${STRING_VALUE}", "$${STRING_VALUE}", DPT__S_STR);
    expect("$${STRING_VALUE:-fallback}", "${STRING_VALUE:-fallback}", DPT__S_STR);
    expect("$${STRING_VALUE:-${STRING_VALUE}}", "${STRING_VALUE:-value}", DPT__S_STR);
    expect("${UNDEFINED_KEY:-$${UNDEFINED_KEY}}", "${UNDEFINED_KEY:-${UNDEFINED_KEY}}", DPT__S_STR);
    expect("${VALUE_WITH_ESCAPE}", "value$$", DPT__S_STR);
    expect("a $$ b", "a $ b", DPT__S_STR);
    expect("a $ b", "a $ b", DPT__S_STR);
    /* "key: ${HEX_VALUE} [...] YAML parser resolves to int 3735928559". */
    dpt__tree t;
    dpt__tree_error err;
    dpt_err e;
    const dpt__node *n = value_of("${HEX_VALUE}", &t, &e, &err);
    assert_int_equal(n->i, 3735928559);
    dpt__tree_free(&t);
}

/* "key: ${STRING_VALUE:?error} - Invalid substitution reference produces parse error"; and
 * "${1API_KEY} and ${API_$KEY} are invalid"; a prefix other than env is not supported. */
static void test_invalid_references_are_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "${STRING_VALUE:?error}", "${1API_KEY}",      "${API_$KEY}", "${sys:foo}",
        "${ STRING_VALUE}",       "${STRING_VALUE }", "x ${-}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dpt__tree t;
        dpt__tree_error err;
        dpt_err e;
        value_of(bad[i], &t, &e, &err);
        if (e != DPT_EPARSE) fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(err.line, 1);
        assert_int_equal(err.col, 6); /* the value's position */
    }
}

/* What is not a reference stays as it is: "${}" (GENERIC-SUBSTITUTION needs a character),
 * an unclosed "${", a lone '$'. Empty variables take the default ("null, empty, or
 * undefined"); "Mapping keys are not candidates for substitution". */
static void test_non_references_defaults_and_keys(void **state)
{
    (void)state;
    expect("\"${}\"", "${}", DPT__S_STR);
    expect("\"${STRING_VALUE\"", "${STRING_VALUE", DPT__S_STR);
    expect("$", "$", DPT__S_STR);
    expect("${EMPTY:-dflt}", "dflt", DPT__S_STR);
    expect("${EMPTY}", "", DPT__S_NULL);
    expect("${env:UNDEFINED_KEY:-x}", "x", DPT__S_STR);
    expect("\"${UNDEFINED_KEY:-}\"", "", DPT__S_STR);
    dpt__tree t;
    dpt__tree_error err;
    const char *doc = "${STRING_VALUE}: v\n";
    assert_int_equal(dpt__tree_parse(doc, strlen(doc), spec_env, &t, &err), DPT_OK);
    assert_string_equal(t.root->keys[0], "${STRING_VALUE}");
    dpt__tree_free(&t);
}

/* The YAML 1.2 core schema (configuration/data-model.md: "YAML configuration files SHOULD
 * be parsed using v1.2 YAML core schema"): yes/no/on/off are strings (they were booleans in
 * YAML 1.1), 0o17 is octal, .inf and .nan are floats, ~ and empty are null. */
static void test_core_schema_typing(void **state)
{
    (void)state;
    expect("yes", "yes", DPT__S_STR);
    expect("off", "off", DPT__S_STR);
    expect("True", "True", DPT__S_BOOL);
    expect("FALSE", "FALSE", DPT__S_BOOL);
    expect("~", "~", DPT__S_NULL);
    expect("Null", "Null", DPT__S_NULL);
    expect("0o17", "0o17", DPT__S_INT);
    expect("-42", "-42", DPT__S_INT);
    expect("+7", "+7", DPT__S_INT);
    expect("1e3", "1e3", DPT__S_FLOAT);
    expect(".5", ".5", DPT__S_FLOAT);
    expect("-.inf", "-.inf", DPT__S_FLOAT);
    expect(".NaN", ".NaN", DPT__S_FLOAT);
    expect("1_000", "1_000", DPT__S_STR); /* YAML 1.1 digit separators are gone in 1.2 */
    expect("0x", "0x", DPT__S_STR);
    expect("'5'", "5", DPT__S_STR);
    expect("!!str 5", "5", DPT__S_STR);
    expect("!!float 5", "5", DPT__S_FLOAT);
    dpt__tree t;
    dpt__tree_error err;
    dpt_err e;
    assert_int_equal(value_of("0o17", &t, &e, &err)->i, 15);
    dpt__tree_free(&t);
    value_of("!!int abc", &t, &e, &err);
    assert_int_equal(e, DPT_EPARSE);
    value_of("!custom x", &t, &e, &err);
    assert_int_equal(e, DPT_EPARSE);
    assert_non_null(strstr(err.msg, "tag"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_specification_table),
        cmocka_unit_test(test_invalid_references_are_errors),
        cmocka_unit_test(test_non_references_defaults_and_keys),
        cmocka_unit_test(test_core_schema_typing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
