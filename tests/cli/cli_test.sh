#!/bin/sh
# cli_test.sh - behaviour tests of the dptrace CLI, one case per ctest entry:
#   cli_test.sh CASE   with DPTRACE (the binary), TESTTOOL (cli_testtool), DATA (tests/cli/data)
#   and WORK (an empty scratch directory) in the environment.
# Each case states what the user would see and fails on the first difference.
set -u
: "${DPTRACE:?}" "${TESTTOOL:?}" "${DATA:?}" "${WORK:?}"
case_name=$1
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
# Deterministic drawing unless a case asks otherwise.
export LC_ALL=C
unset NO_COLOR COLUMNS TRACEPARENT TRACESTATE BAGGAGE OTEL_TRACES_EXPORTER \
    OTEL_EXPORTER_OTLP_ENDPOINT OTEL_SERVICE_NAME OTEL_RESOURCE_ATTRIBUTES
SAMPLE=$DATA/sample.jsonl
TA=4bf92f3577b34da6a3ce929d0e0e4736
TB=0af7651916cd43dd8448eb211c80319c

fail() { echo "FAIL [$case_name]: $*" >&2; exit 1; }
# run EXPECTED_RC CMD...: runs CMD with stdout in out.txt, stderr in err.txt
run() {
    want=$1; shift
    "$@" >out.txt 2>err.txt
    got=$?
    [ "$got" -eq "$want" ] || { cat out.txt err.txt >&2; fail "exit $got, wanted $want: $*"; }
}
has() { grep -qF -- "$2" "$1" || { cat "$1" >&2; fail "$1 lacks: $2"; }; }
hasnt() { ! grep -qF -- "$2" "$1" || { cat "$1" >&2; fail "$1 has: $2"; }; }
count() { c=$(grep -cF -- "$2" "$1"); [ "$c" -eq "$3" ] || { cat "$1" >&2; fail "$1: '$2' $c times, wanted $3"; }; }

# start_collect ARGS...: runs `dptrace collect` on a free loopback port in the background
# (CP its pid, PORT its port, stderr in collect.err); stop_collect sends SIGTERM and
# checks the exit status.
start_collect() {
    rm -f port
    "$DPTRACE" collect --listen 127.0.0.1:0 --ready-file port "$@" >collect.out 2>collect.err &
    CP=$!
    i=0
    while [ ! -s port ]; do
        kill -0 $CP 2>/dev/null || { cat collect.err >&2; fail "collect exited"; }
        i=$((i + 1)); [ $i -le 100 ] || fail "collect not listening after 10 s"
        sleep 0.1
    done
    PORT=$(cat port)
}
stop_collect() {
    kill -TERM $CP
    rc=0; wait $CP || rc=$?
    [ $rc -eq 0 ] || { cat collect.err >&2; fail "collect exited with $rc"; }
}

case $case_name in
view_summary)
    run 0 "$DPTRACE" view "$SAMPLE" --width 100
    has out.txt "sample.jsonl: 20 spans in 5 traces from 5 services"
    has out.txt "errors:   5 spans in 1 trace (20.0% of traces)"
    has out.txt "services: orders 10, gateway 4,"
    has out.txt "duration: p50 20.0 ms  p90 84.2 ms  p99 84.2 ms  max 84.2 ms"
    # The slowest list is ordered by duration and names each trace's root span.
    sed -n '/^slowest traces/,/^$/p' out.txt > list.txt
    [ "$(sed -n 2p list.txt | tr -s ' ')" = " 84.2 ms $TA gateway GET /checkout 9 spans" ] || fail "first: $(sed -n 2p list.txt)"
    [ "$(sed -n 3p list.txt | tr -s ' ')" = " 40.0 ms $TB gateway GET /checkout 5 spans 5 errors" ] || fail "second: $(sed -n 3p list.txt)"
    count list.txt " ms  " 5
    # ... followed by the waterfall of the slowest trace.
    has out.txt "trace $TA  GET /checkout (gateway)"
    [ ! -s err.txt ] || fail "unexpected stderr: $(cat err.txt)"
    ;;
view_waterfall_golden)
    # The whole waterfall of trace A, ASCII, 100 columns: tree, services, kinds, bars.
    run 0 "$DPTRACE" view "$SAMPLE" --trace $TA --width 100
    diff -u "$DATA/view_trace_a.txt" out.txt >&2 || fail "waterfall differs from view_trace_a.txt"
    ;;
view_trace_prefix_and_errors)
    run 0 "$DPTRACE" view "$SAMPLE" -t 0af7 --width 100
    has out.txt "trace $TB"
    count out.txt " ERROR" 5
    has out.txt "ERROR: card declined"
    has out.txt "ERROR: upstream returned 502"
    run 0 "$DPTRACE" view "$SAMPLE" --errors --width 100
    has out.txt "1 trace with errors; showing the slowest 1"
    has out.txt "trace $TB"
    hasnt out.txt "trace $TA"
    run 0 "$DPTRACE" view "$SAMPLE" --slowest 2 --width 100
    count out.txt "trace " 2
    [ "$(grep '^trace ' out.txt | cut -d' ' -f2 | tr '\n' ' ')" = "$TA $TB " ] || fail "slowest 2 order"
    ;;
view_orphan_and_link_trace)
    run 0 "$DPTRACE" view "$SAMPLE" -t 5b8aa5a2 --width 100
    has out.txt "(orphan: parent 1111111111111111 not in file)"
    # the child of the orphan is drawn under it
    has out.txt "\`- GET"
    run 0 "$DPTRACE" view "$SAMPLE" -t 6e0c --width 100
    has out.txt "orders.queue process"
    has out.txt "consumer"
    # A broken file: A and B are each other's parent, C its own. Drawn once, marked, ended.
    sp() { printf '{"traceId":"abababababababababababababababab","spanId":"%s","parentSpanId":"%s","name":"%s","startTimeUnixNano":"%s","endTimeUnixNano":"9"}' "$@"; }
    printf '{"resourceSpans":[{"scopeSpans":[{"spans":[%s,%s,%s]}]}]}\n' \
        "$(sp 000000000000000a 000000000000000b A 1)" "$(sp 000000000000000b 000000000000000a B 2)" \
        "$(sp 000000000000000c 000000000000000c C 3)" > cycle.jsonl
    run 0 "$DPTRACE" view cycle.jsonl -t abab --width 100
    count out.txt "(parent cycle at " 2
    has out.txt "(parent cycle at 000000000000000c)"
    count out.txt "internal" 0
    [ "$(grep -c ' ns  |' out.txt)" -eq 3 ] || fail "cycle: not 3 span lines"
    ;;
view_hostile_text)
    # Names carrying ESC sequences and U+2028 must reach the terminal inert.
    run 0 "$DPTRACE" view "$SAMPLE" -t a3ce929d --width 120
    if grep -q "$(printf '\033')" out.txt; then fail "ESC byte reached stdout"; fi
    has out.txt "<img src=x onerror=alert(1)>?[31mred?"
    run 0 env LC_ALL=C.UTF-8 "$DPTRACE" view "$SAMPLE" -t a3ce929d --width 120
    if grep -q "$(printf '\342\200\250')" out.txt; then fail "U+2028 reached stdout"; fi
    ;;
view_colour_rules)
    esc=$(printf '\033[')
    run 0 "$DPTRACE" view "$SAMPLE" -t $TB
    if grep -qF "$esc" out.txt; then fail "colours when stdout is not a terminal"; fi
    run 0 "$DPTRACE" view "$SAMPLE" -t $TB --color always
    grep -qF "$esc" out.txt || fail "no colours with --color always"
    # On a terminal (script(1) gives one): colours, unless NO_COLOR is set.
    if command -v script >/dev/null 2>&1; then
        script -qec "$DPTRACE view $SAMPLE -t $TB" /dev/null > tty.txt 2>&1 || fail "script run failed"
        grep -qF "$esc" tty.txt || fail "no colours on a terminal"
        NO_COLOR=1 script -qec "$DPTRACE view $SAMPLE -t $TB" /dev/null > tty2.txt 2>&1 || fail "script run failed"
        has tty2.txt "card declined"
        # script adds no colour itself; only the progress line eraser may not appear either
        if grep -qF "$(printf '\033[1;31m')" tty2.txt; then fail "colours despite NO_COLOR"; fi
    fi
    run 0 env LC_ALL=C.UTF-8 "$DPTRACE" view "$SAMPLE" -t $TB
    has out.txt "└─ GET"
    run 0 "$DPTRACE" view "$SAMPLE" -t $TB --ascii
    has out.txt "\`- GET"
    ;;
bad_arguments)
    run 2 "$DPTRACE";                                     has err.txt "usage: dptrace <command>"
    run 2 "$DPTRACE" frobnicate;                          has err.txt "unknown command 'frobnicate'"
    run 2 "$DPTRACE" view;                                has err.txt "view: missing FILE"
    run 2 "$DPTRACE" view "$SAMPLE" --slowest abc;        has err.txt "--slowest wants a number"
    run 2 "$DPTRACE" view "$SAMPLE" --slowest 0;          has err.txt "--slowest wants a number"
    run 2 "$DPTRACE" view "$SAMPLE" --bogus;              has err.txt "unknown option '--bogus'"
    run 2 "$DPTRACE" view "$SAMPLE" --trace;              has err.txt "needs a value"
    run 2 "$DPTRACE" view "$SAMPLE" --color sometimes;    has err.txt "--color wants"
    run 2 "$DPTRACE" view "$SAMPLE" "$SAMPLE";            has err.txt "one FILE only"
    run 2 "$DPTRACE" report "$SAMPLE";                    has err.txt "missing -o"
    run 2 "$DPTRACE" report -o x.html;                    has err.txt "missing FILE"
    run 125 "$DPTRACE" exec;                              has err.txt "missing the command"
    run 125 "$DPTRACE" exec --kind sideways -- true;      has err.txt "--kind wants"
    run 125 "$DPTRACE" exec --attr novalue -- true;       has err.txt "--attr wants KEY=VALUE"
    run 1 "$DPTRACE" view "$WORK/does-not-exist.jsonl";   has err.txt "cannot open"
    run 1 "$DPTRACE" view "$WORK";                        has err.txt "is a directory"
    run 1 "$DPTRACE" view "$SAMPLE" -t ffffffffffffffffffffffffffffffff; has err.txt "no trace 'ffff"
    # Issue 13 (7): a --trace value that cannot be an id or a prefix (too short, not hex)
    # is a usage error, not "no trace" - dptrace's own choice, as for every bad value.
    run 2 "$DPTRACE" view "$SAMPLE" -t ab;                has err.txt "--trace wants a trace id"
    run 2 "$DPTRACE" view "$SAMPLE" --trace zz;           has err.txt "not 'zz'"
    run 2 "$DPTRACE" view "$SAMPLE" -t 4bf9zzzz;          has err.txt "--trace wants"
    run 2 "$DPTRACE" report "$SAMPLE" -o r.html -t abc;   has err.txt "--trace wants"
    run 2 "$DPTRACE" report "$SAMPLE" -o r.html --slowest x; has err.txt "--slowest wants a number"
    run 2 "$DPTRACE" view "$SAMPLE" --width 5;            has err.txt "--width wants a number from 40 to 1000"
    run 1 "$DPTRACE" report "$SAMPLE" -o "$WORK/no/such/dir/r.html"; has err.txt "cannot write"
    ;;
help_texts)
    run 0 "$DPTRACE" --help;          has out.txt "usage: dptrace <command>"
    run 0 "$DPTRACE" view --help;     has out.txt "usage: dptrace view FILE"
    run 0 "$DPTRACE" report --help;   has out.txt "usage: dptrace report FILE -o OUT.html"
    run 0 "$DPTRACE" exec --help;     has out.txt "usage: dptrace exec [options] -- CMD"
    run 0 "$DPTRACE" help report;     has out.txt "usage: dptrace report"
    run 0 "$DPTRACE" --version;       has out.txt "dptrace "
    ;;
malformed_lines)
    run 0 "$DPTRACE" view "$DATA/malformed.jsonl" --width 100
    has err.txt "malformed.jsonl:2: malformed line skipped (not JSON)"
    has err.txt "malformed.jsonl:4: malformed line skipped: not an ExportTraceServiceRequest"
    has err.txt "malformed.jsonl:5: span skipped: invalid traceId"
    has err.txt "malformed.jsonl:6: malformed line skipped (not JSON)"
    has err.txt "malformed.jsonl:7: malformed line skipped"
    has err.txt "malformed.jsonl:8: span skipped: invalid spanId"
    has err.txt "malformed.jsonl:9: span skipped: invalid startTimeUnixNano"
    hasnt err.txt "malformed.jsonl:1:"
    hasnt err.txt "malformed.jsonl:3:"
    has out.txt "2 spans in 2 traces"
    has out.txt "skipped:  4 malformed lines, 3 invalid spans"
    # Nothing valid at all is an error; an empty file is not.
    printf 'garbage\n{"x":1}\n' > bad.jsonl
    run 1 "$DPTRACE" view bad.jsonl;  has err.txt "no valid span in 2 lines"
    run 1 "$DPTRACE" report bad.jsonl -o r.html
    : > empty.jsonl
    run 0 "$DPTRACE" view empty.jsonl; has out.txt "no spans"
    # Binary garbage and a line over the 64 MiB limit: reported, no crash.
    head -c 3000000 /dev/urandom > random.bin
    run 1 "$DPTRACE" view random.bin
    { head -n 1 "$DATA/malformed.jsonl"; head -c 70000000 /dev/zero | tr '\0' 'x'; echo; sed -n 5p "$DATA/malformed.jsonl"; } > long.jsonl
    run 0 "$DPTRACE" view long.jsonl
    has err.txt "long.jsonl:2: malformed line skipped: longer than 64 MiB"
    has out.txt "2 spans in 2 traces"
    ;;
report_sample)
    run 0 "$DPTRACE" report "$SAMPLE" -o report.html
    has err.txt "wrote report.html (5 traces, 20 spans)"
    "$TESTTOOL" report-data report.html > data.txt || fail "report data block unreadable"
    has data.txt "traces 5 spans 20"
    has data.txt "trace $TA 9 errors 0 name GET /checkout"
    has data.txt "trace $TB 5 errors 5 name GET /checkout"
    # Self-contained: no URL is fetched, a CSP forbids it anyway.
    has report.html "Content-Security-Policy"
    has report.html "default-src 'none'"
    if grep -Eq '(src|href)="(https?:)?//' report.html; then fail "external reference"; fi
    # Hostile strings only appear escaped: no live tag comes from the file.
    hasnt report.html "<img"
    hasnt report.html "<b>"
    count report.html "</script>" 2
    has report.html '\u003cimg src=x onerror=alert(1)\u003e'
    # stdout output and a trace selection
    run 0 "$DPTRACE" report "$SAMPLE" -o - --errors
    has out.txt "<!DOCTYPE html>"
    "$TESTTOOL" report-data out.txt > data2.txt || fail "stdout report unreadable"
    has data2.txt "traces 1 spans 5"
    # A span budget keeps error traces first, then the slowest that still fit.
    run 0 "$DPTRACE" report "$SAMPLE" -o small.html --max-spans 10
    has err.txt "3 of 5 traces included"
    "$TESTTOOL" report-data small.html > data3.txt
    has data3.txt "traces 3 spans 9"
    has data3.txt "trace $TB 5"
    hasnt data3.txt "trace $TA"
    ;;
exec_spans)
    export DPTRACE_EXPORT_FILE="$WORK/exec.jsonl"
    # Nested: the inner command continues the outer span's trace, its exit status 3
    # becomes an error, and the outer command's own status is passed through.
    run 0 "$DPTRACE" exec --name outer --attr ci.job=build --kind server -- \
        sh -c "\"$DPTRACE\" exec --name inner -- sh -c 'exit 3'; echo inner=\$?; echo tp=\$TRACEPARENT"
    has out.txt "inner=3"
    tp=$(sed -n 's/^tp=//p' out.txt)
    "$TESTTOOL" spans exec.jsonl > spans.txt
    outer=$(grep "	outer	" spans.txt) || fail "no outer span"
    inner=$(grep "	inner	" spans.txt) || fail "no inner span"
    o_trace=$(echo "$outer" | cut -f1); o_span=$(echo "$outer" | cut -f2)
    [ "$(echo "$inner" | cut -f1)" = "$o_trace" ] || fail "inner span in another trace"
    [ "$(echo "$inner" | cut -f3)" = "$o_span" ] || fail "inner span's parent is not outer"
    [ "$tp" = "00-$o_trace-$o_span-03" ] || [ "$tp" = "00-$o_trace-$o_span-01" ] || fail "child's TRACEPARENT $tp"
    [ "$(echo "$outer" | cut -f5)" = 2 ] || fail "--kind server not recorded"
    echo "$outer" | cut -f8 | grep -q "ci.job=build" || fail "--attr not recorded"
    [ "$(echo "$inner" | cut -f6)" = 2 ] || fail "exit 3 is not an error"
    [ "$(echo "$inner" | cut -f7)" = "exit status 3" ] || fail "status message"
    echo "$inner" | grep -q "process.exit.code=3" || fail "exit code attribute"
    [ "$(echo "$outer" | cut -f6)" = 0 ] || fail "outer span is not unset"
    # Exit codes: the command's, 127 not found, 128+N for a signal.
    run 7 "$DPTRACE" exec -- sh -c 'exit 7'
    run 127 "$DPTRACE" exec -- ./no-such-command
    has err.txt "cannot run ./no-such-command"
    run 143 "$DPTRACE" exec --name killed -- sh -c 'kill -TERM $$'
    "$TESTTOOL" spans exec.jsonl > spans.txt
    grep "	killed	" spans.txt | grep -q "killed by signal 15" || fail "signal not recorded"
    # Continuing a trace from the environment, baggage handed on.
    run 0 env TRACEPARENT=00-$TA-00f067aa0ba902b7-01 BAGGAGE=tenant=acme \
        "$DPTRACE" exec --name continued -- sh -c 'echo "bag=$BAGGAGE"; echo "tp=$TRACEPARENT"'
    has out.txt "bag=tenant=acme"
    has out.txt "tp=00-$TA-"
    "$TESTTOOL" spans exec.jsonl > spans.txt
    grep "	continued	" spans.txt | grep -q "^$TA	[0-9a-f]*	00f067aa0ba902b7	" || fail "did not continue TRACEPARENT"
    # The file is readable by view, and the service defaults to dptrace-exec.
    run 0 "$DPTRACE" view exec.jsonl
    has out.txt "from 1 service"
    has out.txt "services: dptrace-exec"
    ;;
collect_dptrace_clients)
    # dptrace itself as the client: libdptrace-http's OTLP exporter in both encodings
    # (OTEL_EXPORTER_OTLP_PROTOCOL http/protobuf and http/json), and the sample file's lines
    # posted as OTLP/JSON: what collect writes reads the same in view and report.
    start_collect -o got.jsonl
    url=http://127.0.0.1:$PORT
    for proto in http/protobuf http/json; do
        run 0 env OTEL_EXPORTER_OTLP_ENDPOINT=$url OTEL_EXPORTER_OTLP_PROTOCOL=$proto \
            "$DPTRACE" exec --name "exec-$proto" --attr proto=$proto -- \
            sh -c "'$DPTRACE' exec --name inner -- true"
    done
    while IFS= read -r line; do
        printf '%s' "$line" > body.json
        code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
            --data-binary @body.json "$url/v1/traces")
        [ "$code" = 200 ] || fail "sample line: HTTP $code"
    done < "$SAMPLE"
    stop_collect
    has collect.err "requests"
    "$TESTTOOL" spans got.jsonl > spans.txt
    for proto in http/protobuf http/json; do
        outer=$(grep "	exec-$proto	" spans.txt) || fail "no span from $proto"
        echo "$outer" | grep -q "proto=$proto" || fail "$proto: attribute lost"
        o_span=$(echo "$outer" | cut -f2)
        grep "	inner	" spans.txt | grep -q "	$o_span	" || fail "$proto: child lost its parent"
    done
    # The sample, through collect, draws the same waterfalls and the same report data.
    for t in $TA $TB; do
        run 0 "$DPTRACE" view "$SAMPLE" -t $t --width 100; mv out.txt want.txt
        run 0 "$DPTRACE" view got.jsonl -t $t --width 100
        diff -u want.txt out.txt >&2 || fail "trace $t differs after collect"
    done
    run 0 "$DPTRACE" report "$SAMPLE" -o a.html; "$TESTTOOL" report-data a.html | sort > a.txt
    run 0 "$DPTRACE" report got.jsonl -o b.html; "$TESTTOOL" report-data b.html | grep -v "name exec-\|name inner" | sort > b.txt
    grep -v "^traces " a.txt > a2.txt; grep -v "^traces " b.txt > b2.txt
    diff -u a2.txt b2.txt >&2 || fail "report data differs after collect"
    ;;
collect_js_sdk)
    # The OpenTelemetry JavaScript SDK (committed lock file, npm ci) as the client, with
    # its OTLP/HTTP protobuf exporter and its JSON exporter.
    js=$(cd "$(dirname "$0")/collect_js" && pwd)
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "SKIP: node/npm missing"; exit 77; }
    if [ ! -f "$js/node_modules/@opentelemetry/exporter-trace-otlp-proto/package.json" ]; then
        (cd "$js" && npm ci --no-audit --no-fund --ignore-scripts) >npm.log 2>&1 || { cat npm.log >&2; fail "npm ci"; }
    fi
    start_collect -o js.jsonl
    run 0 node "$js/send.mjs" "http://127.0.0.1:$PORT/v1/traces"
    tp=$(sed -n 's/^protobuf //p' out.txt); tj=$(sed -n 's/^json //p' out.txt)
    stop_collect
    for enc in protobuf:$tp json:$tj; do
        e=${enc%%:*}; t=${enc#*:}
        run 0 env LC_ALL=C.UTF-8 "$DPTRACE" view js.jsonl -t "$t" --width 120
        has out.txt "GET /js/$e (js-$e)"
        has out.txt "3 spans"
        has out.txt "1 error"
        has out.txt "load 注文"
        has out.txt "ERROR: card declined"
    done
    "$TESTTOOL" spans js.jsonl > spans.txt
    grep "	charge	" spans.txt | grep -q "links=1" || fail "link lost"
    grep "GET /js/protobuf" spans.txt | grep -q "js.ok=true" || fail "bool attribute lost"
    ;;
collect_hostile)
    # Truncated bodies, huge lengths, deep nesting, gzip bombs, wrong types, a full queue:
    # each answered per the OTLP/HTTP spec (collect_hostile.py cites the rules), nothing
    # crashes, and the valid spans in between are written.
    start_collect -o h.jsonl --max-body-mb 4 --queue-mb 4
    python3 "$(dirname "$0")/collect_hostile.py" "$PORT" $((4 << 20)) > py.txt 2>&1 || { cat py.txt >&2; fail "a hostile payload was answered wrongly"; }
    kill -0 $CP || fail "collect died"
    stop_collect
    has collect.err "malformed"
    run 0 "$DPTRACE" view h.jsonl -q
    hasnt err.txt "skipped"
    has out.txt "services: hostile"
    ;;
collect_live_view)
    # --view: a trace is drawn (the same rendering as view) once quiet; with --max-traces 2
    # the oldest of 5 traces arriving together are evicted and counted (memory bound);
    # SIGTERM writes what was received; rotation by size; the report is written.
    python3 "$(dirname "$0")/collect_hostile.py" payload 40 five.pb   # 40 spans, 5 traces
    start_collect -o live.jsonl --view --quiet-ms 200 --max-traces 2 --ascii --width 100 \
        --report live.html --report-every 1 --max-file-mb 1 --max-files 2
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-protobuf' \
        --data-binary @five.pb "http://127.0.0.1:$PORT/v1/traces")
    [ "$code" = 200 ] || fail "HTTP $code"
    # The newest of the five is drawn once 200 ms pass without a span of it. Wait for that
    # (up to 10 s) before the next requests: their traces would evict it from the 2 kept.
    i=0
    until grep -q "trace 00000000000000070000000000000005" collect.out 2>/dev/null; do
        i=$((i + 1)); [ $i -le 100 ] || fail "trace 5 not drawn within 10 s"; sleep 0.1
    done
    # Rotation: 1 MiB of spans in a few requests.
    python3 "$(dirname "$0")/collect_hostile.py" payload 3000 big.pb
    for i in 1 2 3; do
        curl -s -o /dev/null -H 'Content-Type: application/x-protobuf' --data-binary @big.pb \
            "http://127.0.0.1:$PORT/v1/traces"
    done
    stop_collect
    cat collect.err
    has collect.err "view:"
    grep -q "[1-9][0-9]* evicted" collect.err || fail "no trace evicted with --max-traces 2"
    has collect.out "trace 00000000000000070000000000000005"
    has collect.out "SERVICE"
    # Each 3,000-span request is over 1 MiB as JSON: rotated after each; two kept.
    [ -s live.jsonl.1 ] && [ -s live.jsonl.2 ] || fail "no rotation at 1 MiB"
    [ ! -e live.jsonl.3 ] || fail "more rotated files than --max-files"
    cat live.jsonl.2 live.jsonl.1 live.jsonl > all.jsonl
    run 0 "$DPTRACE" view all.jsonl -q
    hasnt err.txt "skipped"
    has out.txt "6,000 spans"
    "$TESTTOOL" report-data live.html > data.txt || fail "no report"
    ;;
resource_rendered_once)
    # Issue 13 (1): report rendered a resource's attributes again for every span, and only
    # then cut each value to 4 KiB (31 MB, 2,000 spans: 51 s). Each resource is rendered
    # once per line and a value only up to its cut. Check: 4x the input (a 4x longer value
    # and 4x the spans) costs about 4x the CPU time, not 16x (dptrace's own rule: no step
    # worse than linear); the cut value says its full size.
    "$TESTTOOL" hostile bigres 1 r1.jsonl && "$TESTTOOL" hostile bigres 4 r4.jsonl || fail "gen"
    "$TESTTOOL" rss "$DPTRACE" report r1.jsonl -o r1.html -q 2>err1.txt || fail "report 1x"
    "$TESTTOOL" rss "$DPTRACE" report r4.jsonl -o r4.html -q 2>err4.txt || fail "report 4x"
    c1=$(sed -n 's/.* cpu_ms \([0-9]*\)$/\1/p' err1.txt); c4=$(sed -n 's/.* cpu_ms \([0-9]*\)$/\1/p' err4.txt)
    echo "report cpu: 1x ${c1} ms, 4x ${c4} ms"
    # linear: 4x; the old per-span rendering: 16x. The floor of 50 ms absorbs start-up noise.
    [ "$c4" -le $(( (c1 < 50 ? 50 : c1) * 8 )) ] || fail "4x input took ${c4} ms against ${c1} ms: worse than linear"
    has r4.html "(16777216 bytes)"
    "$TESTTOOL" report-data r4.html > data.txt && has data.txt "traces 1 spans 4000"
    ;;
line_memory_budget)
    # Issue 13 (2): one line of `{}` objects (under the 64 MiB line limit) made view peak
    # at 80x the line. The JSON tree of a line now has a 128 MiB budget (docs/cli.md); a
    # line over it is reported with its number and skipped, the rest of the file is read.
    "$TESTTOOL" hostile emptyobjs 63 e63.jsonl || fail "gen"
    size=$(wc -c < e63.jsonl)
    "$TESTTOOL" rss "$DPTRACE" view e63.jsonl -q >out.txt 2>err.txt || { cat err.txt >&2; fail "view failed"; }
    has err.txt "e63.jsonl:1: line skipped: its JSON tree needs more than 128 MiB"
    has out.txt "1 span in 1 trace"
    rss=$(sed -n 's/^peak_rss_kb \([0-9]*\) .*/\1/p' err.txt)
    echo "63 MiB line of {}: peak RSS ${rss} KiB (the line: $((size / 1024)) KiB)"
    [ "$rss" -lt $((4 * size / 1024)) ] || fail "peak RSS ${rss} KiB is 4x the line or more"
    # A 16 MiB line (1.29 GB before): the text plus the budget at most.
    "$TESTTOOL" hostile emptyobjs 16 e16.jsonl || fail "gen"
    "$TESTTOOL" rss "$DPTRACE" report e16.jsonl -o e16.html -q >out.txt 2>err.txt || { cat err.txt >&2; fail "report failed"; }
    has err.txt "e16.jsonl:1: line skipped"
    rss=$(sed -n 's/^peak_rss_kb \([0-9]*\) .*/\1/p' err.txt)
    echo "16 MiB line of {}: peak RSS ${rss} KiB"
    [ "$rss" -lt $(( (16 + 128 + 48) * 1024 )) ] || fail "peak RSS ${rss} KiB over line + budget"
    rm -f e63.jsonl e16.jsonl
    ;;
services_interned)
    # Issue 13 (3): service names sharing a 100 KB prefix were compared by strcmp with up
    # to 256 stored names per span (36 MB: 127 s). Names are interned by hash: 4x the
    # services and 4x the spans each (about 5x the bytes) cost about 5x, not 64x.
    "$TESTTOOL" hostile svcprefix 1 s1.jsonl && "$TESTTOOL" hostile svcprefix 4 s4.jsonl || fail "gen"
    "$TESTTOOL" rss "$DPTRACE" view s1.jsonl -q >out1.txt 2>err1.txt || fail "view 1x"
    "$TESTTOOL" rss "$DPTRACE" view s4.jsonl -q >out4.txt 2>err4.txt || fail "view 4x"
    has out4.txt "65,536 spans in 256 traces from 256 services"
    c1=$(sed -n 's/.* cpu_ms \([0-9]*\)$/\1/p' err1.txt); c4=$(sed -n 's/.* cpu_ms \([0-9]*\)$/\1/p' err4.txt)
    b1=$(wc -c < s1.jsonl); b4=$(wc -c < s4.jsonl)
    echo "view cpu: 1x ${c1} ms ($b1 B), 4x ${c4} ms ($b4 B)"
    [ "$c4" -le $(( (c1 < 50 ? 50 : c1) * 2 * b4 / b1 )) ] || fail "4x took ${c4} ms against ${c1} ms: worse than linear"
    rm -f s1.jsonl s4.jsonl
    ;;
pipe_and_fifo_input)
    # Issue 13 (4): a pipe, /dev/stdin or a FIFO was opened twice (empty output, or a
    # second pass blocked forever). Now opened once, spooled by the first pass.
    run 0 "$DPTRACE" view "$SAMPLE" -t $TA --width 100; mv out.txt want.txt
    run 0 sh -c "cat '$SAMPLE' | '$DPTRACE' view - -t $TA --width 100"
    diff -u want.txt out.txt >&2 || fail "view - differs from the file"
    run 0 sh -c "'$DPTRACE' view /dev/stdin -t $TA --width 100 < '$SAMPLE'"
    diff -u want.txt out.txt >&2 || fail "view /dev/stdin differs"
    run 0 sh -c "cat '$SAMPLE' | '$DPTRACE' view /dev/stdin -t $TA --width 100"
    diff -u want.txt out.txt >&2 || fail "view /dev/stdin (a pipe) differs"
    mkfifo fifo
    (cat "$SAMPLE" > fifo &)
    run 0 timeout 30 "$DPTRACE" view fifo --width 100
    has out.txt "20 spans in 5 traces"
    has out.txt "trace $TA"
    (cat "$SAMPLE" > fifo &)
    run 0 timeout 30 "$DPTRACE" report fifo -o fifo.html
    "$TESTTOOL" report-data fifo.html > data.txt && has data.txt "traces 5 spans 20"
    # A bigger input through a pipe reads the same as the file, in the same memory.
    "$TESTTOOL" gen 100000 g.jsonl
    run 0 "$DPTRACE" view g.jsonl -q --slowest 3; mv out.txt want.txt
    run 0 sh -c "cat g.jsonl | '$DPTRACE' view - -q --slowest 3"
    diff -u want.txt out.txt >&2 || fail "100,000 spans through a pipe differ"
    ls "${TMPDIR:-/tmp}"/dptrace-spool-* 2>/dev/null && fail "a spool file was left behind"
    rm -f g.jsonl
    ;;
report_temp_file)
    # Issue 13 (6): report wrote OUT.tmp.<pid>, a name anyone could plant a link at. Now
    # mkstemp in the target directory: a link at the old name is left alone.
    echo "precious" > victim
    run 0 sh -c "ln -s victim r.html.tmp.\$\$ && exec '$DPTRACE' report '$SAMPLE' -o r.html -q"
    [ "$(cat victim)" = "precious" ] || fail "report wrote through a planted link"
    has r.html "<!DOCTYPE html>"
    [ "$(ls | grep -c '^r.html.tmp.[A-Za-z0-9]\{6\}$')" -eq 0 ] || fail "temporary file left behind"
    ;;
wide_characters)
    # Issue 13 (8): CJK and emoji take two columns in a terminal (Unicode UAX #11): the
    # waterfall's bar column stays aligned. Python's unicodedata is the independent judge.
    sp() { printf '{"traceId":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","spanId":"%s","parentSpanId":"%s","name":"%s","startTimeUnixNano":"%s","endTimeUnixNano":"%s"}' "$@"; }
    printf '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"%s"}}]},"scopeSpans":[{"spans":[%s,%s,%s,%s]}]}]}\n' \
        "注文サービス" "$(sp 0000000000000001 "" "GET /注文/確認" 1000 9000)" \
        "$(sp 0000000000000002 0000000000000001 "🚀 launch 🎉" 2000 5000)" \
        "$(sp 0000000000000003 0000000000000001 "plain ascii name" 3000 8000)" \
        "$(sp 0000000000000004 0000000000000001 "$(printf 'e\314\201t\303\251') combining" 4000 6000)" > wide.jsonl
    run 0 env LC_ALL=C.UTF-8 "$DPTRACE" view wide.jsonl -t cdcd --width 100
    python3 - out.txt <<'PY' || fail "waterfall columns not aligned"
import sys, unicodedata
def cols(s):
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
rows = [l.rstrip("\n") for l in open(sys.argv[1], encoding="utf-8") if "│" in l and ("server" in l or "internal" in l or "  " in l)]
rows = [r for r in rows if r.count("│") >= 2]
edges = set()
for r in rows:
    i = r.index("│")
    edges.add(cols(r[:i]))
    j = r.rindex("│")
    edges.add(("end", cols(r[:j])))
print(len(rows), "rows, bar edges at", sorted(map(str, edges)))
sys.exit(0 if len(rows) == 4 and len(edges) == 2 else 1)
PY
    ;;
exporter_lines_readable)
    # Issue 13 (5): 512 spans of control bytes (each written as \u00XX) made one 172 MB
    # line, skipped whole by the reader. The file exporter splits a batch over lines of
    # at most 4 MiB; at the extremes of the 64 KiB span budget every span is read back.
    for m in ctrl tiny huge; do
        "$EXPORT_LINES" $m $m.jsonl > $m.out 2> $m.err || { cat $m.err >&2; fail "export_lines $m"; }
        longest=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' $m.jsonl)
        echo "$m: $(wc -l < $m.jsonl) lines, longest $longest bytes"
        [ "$longest" -le 4194304 ] || fail "$m: a line of $longest bytes"
        run 0 "$DPTRACE" view $m.jsonl -q
        hasnt err.txt "skipped"
    done
    run 0 "$DPTRACE" view ctrl.jsonl -q; has out.txt "512 spans in 512 traces"
    run 0 "$DPTRACE" view tiny.jsonl -q; has out.txt "512 spans in 512 traces"
    # A span that alone would not fit a line (span budget raised to 2 MiB): left out,
    # said on the log; the 511 others are written.
    run 0 "$DPTRACE" view huge.jsonl -q; has out.txt "511 spans in 511 traces"
    has huge.err "not written"
    rm -f ctrl.jsonl
    ;;
large_file_bounded_memory)
    # 1,000,000 spans (about 370 MB) must be read in bounded memory, with progress.
    "$TESTTOOL" gen 1000000 big.jsonl || fail "generation failed"
    "$TESTTOOL" rss "$DPTRACE" view big.jsonl --progress --ascii >out.txt 2>err.txt || { cat err.txt >&2; fail "view failed"; }
    has out.txt "1,000,000 spans in 100,000 traces from 5 services"
    has out.txt "errors:   10,000 spans in 10,000 traces (10.0% of traces)"
    has err.txt "scanning big.jsonl: 50%"
    has err.txt "scanning big.jsonl: 100% (1,000,000 spans)"
    rss=$(sed -n 's/^peak_rss_kb \([0-9]*\) elapsed_ms \([0-9]*\).*$/\1/p' err.txt)
    ms=$(sed -n 's/^peak_rss_kb \([0-9]*\) elapsed_ms \([0-9]*\).*$/\2/p' err.txt)
    echo "view: 1M spans, peak RSS ${rss} KiB, ${ms} ms"
    [ "$rss" -lt 65536 ] || fail "view peak RSS ${rss} KiB >= 64 MiB"
    "$TESTTOOL" rss "$DPTRACE" report big.jsonl -o big.html --progress >out.txt 2>err.txt || { cat err.txt >&2; fail "report failed"; }
    has err.txt "5000 of 100000 traces included (--max-spans 50000)"
    has err.txt "reading big.jsonl: 100%"
    rss=$(sed -n 's/^peak_rss_kb \([0-9]*\) elapsed_ms \([0-9]*\).*$/\1/p' err.txt)
    ms=$(sed -n 's/^peak_rss_kb \([0-9]*\) elapsed_ms \([0-9]*\).*$/\2/p' err.txt)
    echo "report: 1M spans, peak RSS ${rss} KiB, ${ms} ms"
    [ "$rss" -lt 131072 ] || fail "report peak RSS ${rss} KiB >= 128 MiB"
    "$TESTTOOL" report-data big.html > data.txt || fail "big report unreadable"
    has data.txt "traces 5000 spans 50000"
    # the budget goes to the 10,000 error traces first
    [ "$(grep -c ' errors 1 ' data.txt)" -eq 5000 ] || fail "budget not spent on error traces"
    rm -f big.jsonl big.html
    ;;
mesh_demo)
    # The README's main command, end to end: four services, a burst of requests, clean
    # stop, then the traces must have the mesh's shape (checked by cli_testtool).
    : "${BUILD:?}" "${SCRIPTS:?}"
    # DEMO_NGINX=0: the gateway is the edge here (tests/nginx runs the demo with nginx).
    run 0 env BUILD="$BUILD" OUT="$WORK/demo-out" REQUESTS=50 CONCURRENCY=4 DEMO_NGINX=0 sh "$SCRIPTS/demo.sh"
    has err.txt "requests 50/50  ok 45  failed 5"
    has out.txt "==> the slowest trace"
    has out.txt "5 traces with errors; showing the slowest 1"
    has out.txt "ERROR: payment provider timeout"
    for s in gateway orders payments inventory; do
        grep -q "^  $s  *$s: exported [0-9]* spans (0 failed, 0 dropped): success" out.txt ||
            { cat out.txt >&2; fail "$s did not flush cleanly"; }
    done
    "$TESTTOOL" mesh-check "$WORK/demo-out/traces.jsonl" 50 > check.txt || fail "trace shape (see above)"
    cat check.txt
    "$TESTTOOL" report-data "$WORK/demo-out/report.html" > data.txt || fail "demo report unreadable"
    grep -q "^traces [0-9]* spans [0-9]*$" data.txt || fail "report data"
    [ "$(grep -c 'name GET /checkout$' data.txt)" -eq 50 ] || fail "report lacks checkout traces"
    ;;
mesh_demo_collect)
    # The demo with DEMO_COLLECT=1: the four services export OTLP/HTTP protobuf to a
    # `dptrace collect`, whose file has the same mesh shape as the file exporter's.
    : "${BUILD:?}" "${SCRIPTS:?}"
    # DEMO_NGINX=0 as in mesh_demo: the gateway is the edge, the shape mesh-check knows.
    run 0 env DEMO_COLLECT=1 DEMO_NGINX=0 BUILD="$BUILD" OUT="$WORK/demo-out" REQUESTS=50 CONCURRENCY=4 sh "$SCRIPTS/demo.sh"
    has err.txt "requests 50/50  ok 45  failed 5"
    has out.txt "5 traces with errors; showing the slowest 1"
    grep -q "collect  *dptrace collect: [0-9]* requests, [0-9]* spans written .* (0 rejected), 0 malformed" out.txt || { cat out.txt >&2; fail "collect summary"; }
    "$TESTTOOL" mesh-check "$WORK/demo-out/traces.jsonl" 50 > check.txt || fail "trace shape (see above)"
    cat check.txt
    [ "$(grep -c '^trace ' "$WORK/demo-out/collect.view")" -ge 50 ] || fail "live view did not show the traces"
    ;;
*)
    fail "unknown case"
    ;;
esac
echo "ok [$case_name]"
