#!/usr/bin/env bash
# Whole-process benchmark at a real seller's size (BENCHMARKS.md, "Whole process at a
# seller's size").
#
#   bash benches/scale.sh
#
# 1. Builds `casey` and the `synth_mirror` example (release; honours CARGO_TARGET_DIR).
# 2. Writes synthetic mirrors (benches/support/synth.rs, seed 0xCA5E_2026, clock
#    2026-11-20T15:00:00Z) at each scale of $SCALES into $WORK/s<scale>/gen (reused when
#    present; delete the folder to regenerate). Scale 1 is 100k contacts / 300k messages in
#    100k threads / 10k deals; 0.1 is a tenth of every count.
# 3. For each scale, copies gen/ to warm/ and opens the TUI on it once: that is the first run
#    (the first open of a fresh mirror records every detected move). Then, on warm/:
#    * `casey moves --json --limit 50`, `casey explain 1`, `casey whats-up`,
#      `casey stats --json`: wall time and peak RSS from `/usr/bin/time -v`, median of $RUNS.
#    * The TUI, $RUNS times, each on a fresh copy of warm/ (decisions change the state):
#      launch → first full frame, `a` → the frame showing the accept, `s` (prompt) then
#      Enter → the frame showing the skip, `z` (menu) then `1` → the frame showing the
#      snooze, `u` → the frame showing the undo, and the TUI's peak RSS (`/usr/bin/time -v` inside
#      tmux, after `q`). Times come from polling `tmux capture-pane -p` every ~10 ms with a
#      monotonic clock (`date +%s%N`), measured from just before `tmux new-session` or just
#      before `tmux send-keys`.
# 4. Prints a markdown table (also written to $WORK/results.md; every single run is in
#    $WORK/runs.tsv).
#
# Screen markers (extended regexes on the captured 160×48 pane):
#   first frame   "Today's Moves \((top )?[0-9]+" (list title) and "^│ +1[ ✓]" (list row 1)
#                 and "\? help +q quit" (footer). The header may say anything meanwhile.
#   after a       "accepted · u to undo" (status line) and "· 1 accepted" (header count)
#   after s       "skip — reason" (the prompt)
#   after Enter   "skipped · u to undo" (status line)
#   after z       "snooze: 1 = 1 day" (the menu)
#   after 1       "snoozed 1 day · u to undo" (status line)
#   after u       "^ undone *$" (status line)
#
# Environment: WORK (default /tmp/casey-scale), SCALES (default "0.1 1"), RUNS (default 5),
# TIMEOUT seconds per wait or command (default 120; a miss is reported as "timeout"),
# SKIP_BUILD=1 to use the binaries already in the target dir.
# Needs bash, tmux, GNU time (/usr/bin/time), cp, awk. Only local processes; no network, no
# account: casey runs with an empty config file and a fixed clock.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${WORK:-/tmp/casey-scale}
SCALES=${SCALES:-"0.1 1"}
RUNS=${RUNS:-5}
TIMEOUT=${TIMEOUT:-120}
NOW=2026-11-20T15:00:00Z
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CASEY=$TARGET/release/casey
SYNTH=$TARGET/release/examples/synth_mirror
COLS=160
ROWS=48

export LANG=C.UTF-8 LC_ALL=C.UTF-8
# Nothing from the caller's casey set-up may leak in (accounts, data dir, clock).
while IFS= read -r v; do unset "$v"; done < <(env | sed -n 's/^\(CASEYOS_[A-Za-z0-9_]*\)=.*/\1/p')
unset NO_COLOR

for tool in tmux /usr/bin/time awk; do
    command -v "$tool" >/dev/null || { echo "scale.sh: $tool is missing" >&2; exit 1; }
done

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$ROOT" && cargo build --release --bin casey --example synth_mirror)
fi
[[ -x $CASEY && -x $SYNTH ]] || { echo "scale.sh: no binaries in $TARGET/release" >&2; exit 1; }

mkdir -p "$WORK"
CONFIG=$WORK/config.toml
: >"$CONFIG"
SOCK=$WORK/tmux.sock
RUNS_TSV=$WORK/runs.tsv
printf 'scale\twhat\trun\tvalue\n' >"$RUNS_TSV"

log() { echo "scale.sh: $*" >&2; }

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# The median of the numbers on stdin ("timeout" when any is "timeout", "-" when none).
median() {
    awk '{ if ($1 == "timeout") t = 1; else v[n++] = $1 }
         END { if (t) { print "timeout"; exit }
               if (!n) { print "-"; exit }
               # insertion sort: n is small
               for (i = 1; i < n; i++) { x = v[i]; for (j = i - 1; j >= 0 && v[j] > x; j--) v[j+1] = v[j]; v[j+1] = x }
               if (n % 2) print v[int(n/2)]; else print (v[n/2-1] + v[n/2]) / 2 }'
}

# Results: R[scale|what] = value.
declare -A R
record() { # scale what run value
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RUNS_TSV"
}

# "Elapsed (wall clock) time (h:mm:ss or m:ss): 1:02.03" → milliseconds.
elapsed_ms() {
    awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0
        for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%d\n", s * 1000 + 0.5 }' "$1"
}
rss_kb() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }
exit_status() { awk -F': ' '/Exit status/ { print $2 }' "$1"; }

# ---------------------------------------------------------------- mirrors
generate() { # scale → $WORK/s<scale>/gen/casey.db
    local dir=$WORK/s$1
    if [[ -s $dir/gen/casey.db ]]; then
        log "reusing $dir/gen ($(du -h "$dir/gen/casey.db" | cut -f1))"
        return
    fi
    rm -rf "$dir/gen.tmp"
    log "generating scale $1 into $dir/gen"
    local t0
    t0=$(date +%s%N)
    "$SYNTH" "$dir/gen.tmp" --scale "$1" --now "$NOW"
    mv "$dir/gen.tmp" "$dir/gen"
    echo "$(ms_since "$t0")" >"$dir/gen/generate_ms"
}

fresh_copy() { # from to: the whole data dir, WAL and shm files included
    rm -rf "$2"
    cp -a "$1" "$2"
}

# ---------------------------------------------------------------- CLI
cli() { # scale name args...
    local scale=$1 name=$2
    shift 2
    local d=$WORK/s$scale/warm tf=$WORK/cli-time.txt i ms kb st
    for ((i = 1; i <= RUNS; i++)); do
        rm -f "$tf"
        st=0
        /usr/bin/time -v -o "$tf" timeout -k 5 "$TIMEOUT" \
            "$CASEY" --config "$CONFIG" --data-dir "$d" --now "$NOW" "$@" \
            >"$WORK/cli-out.txt" 2>"$WORK/cli-err.txt" || st=$?
        if [[ $st == 124 || $st == 137 ]]; then
            ms=timeout kb=timeout
        elif [[ $st != 0 ]]; then
            log "casey $* failed (exit $st):"
            cat "$WORK/cli-err.txt" >&2
            exit 1
        else
            ms=$(elapsed_ms "$tf") kb=$(rss_kb "$tf")
        fi
        record "$scale" "$name wall ms" "$i" "$ms"
        record "$scale" "$name rss kB" "$i" "$kb"
        log "  s$scale $name run $i: $ms ms, $kb kB"
    done
}

# ---------------------------------------------------------------- TUI
screen() { tmux -S "$SOCK" capture-pane -p -t casey 2>/dev/null; }

# Waits until every regex matches the pane; prints the ms since $1, or "timeout".
wait_for() { # t0 regex...
    local t0=$1 s now ok re
    shift
    local deadline=$(( t0 + TIMEOUT * 1000000000 ))
    while :; do
        s=$(screen) || s=
        now=$(date +%s%N)
        ok=1
        for re in "$@"; do
            grep -Eq -- "$re" <<<"$s" || { ok=0; break; }
        done
        if ((ok)); then
            echo $(( (now - t0) / 1000000 ))
            return 0
        fi
        if ((now > deadline)); then
            echo timeout
            return 0
        fi
        if ! tmux -S "$SOCK" has-session -t casey 2>/dev/null; then
            log "casey exited before the screen showed: $*"
            log "its stderr: $(head -c 2000 "$WORK/tui-err.txt" 2>/dev/null)"
            echo timeout
            return 0
        fi
        sleep 0.01
    done
}

FIRST_FRAME=("Today's Moves \\((top )?[0-9]+" '^│ +1[ ✓]' '\? help +q quit')
AFTER_ACCEPT=('accepted · u to undo' '· 1 accepted')
SKIP_PROMPT=('skip — reason')
AFTER_SKIP=('skipped · u to undo')
SNOOZE_MENU=('snooze: 1 = 1 day')
AFTER_SNOOZE=('snoozed 1 day · u to undo')
AFTER_UNDO=('^ undone *$')

# Sends one key to the TUI and waits for the screen to show every regex; records and prints
# the milliseconds (or "timeout").
press() { # scale run key what regex...
    local scale=$1 run=$2 key=$3 what=$4 t0 ms
    shift 4
    t0=$(date +%s%N)
    tmux -S "$SOCK" send-keys -t casey "$key"
    ms=$(wait_for "$t0" "$@")
    record "$scale" "$what" "$run" "$ms"
    echo "$ms"
}

# One TUI session on data dir $2. With keys=1: a, s, Enter, z, 1, u, then q. Records under $3.
tui() { # scale dir label keys run
    local scale=$1 d=$2 label=$3 keys=$4 run=$5
    local tf=$WORK/tui-time.txt t0 first a sp sk zm zs u i kb
    rm -f "$tf"
    tmux -S "$SOCK" kill-server 2>/dev/null || true
    t0=$(date +%s%N)
    tmux -u -S "$SOCK" -f /dev/null new-session -d -s casey -x "$COLS" -y "$ROWS" \
        "/usr/bin/time -v -o '$tf' '$CASEY' --config '$CONFIG' --data-dir '$d' --now '$NOW' 2>'$WORK/tui-err.txt'"
    first=$(wait_for "$t0" "${FIRST_FRAME[@]}")
    record "$scale" "$label first frame ms" "$run" "$first"
    a=- sp=- sk=- zm=- zs=- u=-
    if [[ $first != timeout && $keys == 1 ]]; then
        # Each key only once the one before it showed.
        a=$(press "$scale" "$run" a "a to frame ms" "${AFTER_ACCEPT[@]}")
        [[ $a != timeout ]] && sp=$(press "$scale" "$run" s "s to prompt ms" "${SKIP_PROMPT[@]}")
        [[ $sp != timeout && $sp != - ]] && sk=$(press "$scale" "$run" Enter "skip Enter to frame ms" "${AFTER_SKIP[@]}")
        [[ $sk != timeout && $sk != - ]] && zm=$(press "$scale" "$run" z "z to menu ms" "${SNOOZE_MENU[@]}")
        [[ $zm != timeout && $zm != - ]] && zs=$(press "$scale" "$run" 1 "snooze 1 to frame ms" "${AFTER_SNOOZE[@]}")
        [[ $zs != timeout && $zs != - ]] && u=$(press "$scale" "$run" u "u to frame ms" "${AFTER_UNDO[@]}")
        :
    fi
    kb=timeout
    if [[ $first != timeout && $a != timeout && $sp != timeout && $sk != timeout && $zm != timeout && $zs != timeout && $u != timeout ]]; then
        tmux -S "$SOCK" send-keys -t casey q
        for ((i = 0; i < TIMEOUT * 10; i++)); do
            [[ -n $(exit_status "$tf" 2>/dev/null) ]] && break
            sleep 0.1
        done
        if [[ $(exit_status "$tf" 2>/dev/null) == 0 ]]; then
            kb=$(rss_kb "$tf")
        else
            log "the TUI did not exit cleanly after q: $(cat "$WORK/tui-err.txt" 2>/dev/null)"
        fi
    else
        log "s$scale $label run $run: timeout; last screen:"
        screen | head -5 >&2 || true
    fi
    record "$scale" "$label rss kB" "$run" "$kb"
    tmux -S "$SOCK" kill-server 2>/dev/null || true
    log "  s$scale $label run $run: first frame $first ms, a $a ms, s $sp ms, Enter $sk ms, z $zm ms, 1 $zs ms, u $u ms, rss $kb kB"
}

# ---------------------------------------------------------------- run
cleanup() { tmux -S "$SOCK" kill-server 2>/dev/null || true; }
trap cleanup EXIT

for scale in $SCALES; do
    generate "$scale"
done

for scale in $SCALES; do
    dir=$WORK/s$scale
    fresh_copy "$dir/gen" "$dir/warm"
    log "scale $scale: first TUI open of the fresh mirror"
    tui "$scale" "$dir/warm" "tui first-run" 0 1
    log "scale $scale: CLI"
    cli "$scale" "moves" moves --json --limit 50
    cli "$scale" "explain" explain 1
    cli "$scale" "whats-up" whats-up
    cli "$scale" "stats" stats --json
    log "scale $scale: TUI (warm, $RUNS runs)"
    for ((run = 1; run <= RUNS; run++)); do
        fresh_copy "$dir/warm" "$dir/run"
        tui "$scale" "$dir/run" "tui" 1 "$run"
    done
    rm -rf "$dir/run"
done

# ---------------------------------------------------------------- table
value() { # scale what → median over runs
    awk -F'\t' -v s="$1" -v w="$2" '$1 == s && $2 == w { print $4 }' "$RUNS_TSV" | median
}
label() { # scale → "10k / 30k"
    awk -v f="$1" 'BEGIN { c = 100000 * f; m = 300000 * f
        printf "%s contacts / %s msgs", (c >= 1000 ? c / 1000 "k" : c), (m >= 1000 ? m / 1000 "k" : m) }'
}
fmt() { # value unit(ms|kB|MB)
    case $1 in
        timeout | -) echo "$1" ;;
        *) case $2 in
               ms) awk -v v="$1" 'BEGIN { if (v >= 1000) printf "%.2f s", v / 1000; else printf "%d ms", v }' ;;
               kB) awk -v v="$1" 'BEGIN { printf "%.0f MiB", v / 1024 }' ;;
               MB) awk -v v="$1" 'BEGIN { printf "%.0f MiB", v }' ;;
           esac ;;
    esac
}
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "×%.1f", b / a; else print "-" }'
}

read -r -a S <<<"$SCALES"
first_scale=${S[0]}
last_scale=${S[${#S[@]} - 1]}
{
    printf '| what (median of %s) |' "$RUNS"
    for s in "${S[@]}"; do printf ' %s |' "$(label "$s")"; done
    printf ' growth |\n|---|'
    for _ in "${S[@]}"; do printf -- '---:|'; done
    printf -- '---:|\n'
    row() { # title what unit
        local s v
        printf '| %s |' "$1"
        for s in "${S[@]}"; do
            v=$(value "$s" "$2")
            printf ' %s |' "$(fmt "$v" "$3")"
        done
        printf ' %s |\n' "$(ratio "$(value "$first_scale" "$2")" "$(value "$last_scale" "$2")")"
    }
    printf '| mirror file |'
    for s in "${S[@]}"; do
        printf ' %s |' "$(fmt "$(du -m "$WORK/s$s/gen/casey.db" | cut -f1)" MB)"
    done
    printf ' |\n'
    row '`casey moves --json --limit 50`' 'moves wall ms' ms
    row '`casey explain 1`' 'explain wall ms' ms
    row '`casey whats-up`' 'whats-up wall ms' ms
    row '`casey stats --json`' 'stats wall ms' ms
    row 'TUI launch → first frame, first run (1 run)' 'tui first-run first frame ms' ms
    row 'TUI launch → first frame, warm' 'tui first frame ms' ms
    row 'TUI `a` → frame' 'a to frame ms' ms
    row 'TUI `s` → skip prompt' 's to prompt ms' ms
    row 'TUI Enter (skip) → frame' 'skip Enter to frame ms' ms
    row 'TUI `z` → snooze menu' 'z to menu ms' ms
    row 'TUI `1` (snooze a day) → frame' 'snooze 1 to frame ms' ms
    row 'TUI `u` (undo the snooze) → frame' 'u to frame ms' ms
    row 'peak RSS `moves --json`' 'moves rss kB' kB
    row 'peak RSS `explain 1`' 'explain rss kB' kB
    row 'peak RSS `whats-up`' 'whats-up rss kB' kB
    row 'peak RSS `stats --json`' 'stats rss kB' kB
    row 'peak RSS TUI (first run)' 'tui first-run rss kB' kB
    row 'peak RSS TUI (warm: launch, a, s, Enter, z, 1, u, q)' 'tui rss kB' kB
} | tee "$WORK/results.md"
log "table in $WORK/results.md, every run in $RUNS_TSV"
