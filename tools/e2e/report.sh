#!/usr/bin/env bash
# `nninit report` in a real headless browser (Chromium): each page loads with no console message
# (no errors), every tensor has its figure, and a 1,000-tensor page renders and scrolls quickly.
# Installs Chromium with apt-get when it is missing (and prints how long that took).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v chromium >/dev/null 2>&1; then
    t0=$(date +%s)
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    echo "report.sh: installed chromium in $(( $(date +%s) - t0 )) s"
fi

# The README's test command builds the binary (with the features it resolves for the whole
# workspace); this is a no-op after it.
cargo test --workspace --release -q --no-run
bin="$PWD/target/release/nninit"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A small model checked against a plan it was not made with (failures with causes), with a probe
# plot; and a 1,000-tensor model (an MLP of 500 layers).
"$bin" init --arch mlp --dims 64,256,10 -o "$work/small.safetensors" >/dev/null
printf '[[rule]]\nlayer = "Linear"\nrole = "weight"\ninit = "xavier_uniform_()"\n' > "$work/plan.toml"
"$bin" report "$work/small.safetensors" --plan "$work/plan.toml" --probe-depth 10 -o "$work/small.html"
dims=$(printf '16,%.0s' $(seq 1 500))16
"$bin" init --arch mlp --dims "$dims" -o "$work/big.safetensors" >/dev/null
"$bin" report "$work/big.safetensors" -o "$work/big.html"

for page in small big; do
    html="$work/$page.html"
    # Self-contained: no external resource (the SVG namespace URI is a name, not a request).
    if grep -Eo '(src|href)="[^"]*"|https?://[^" ]*' "$html" | grep -v 'http://www.w3.org/2000/svg' | grep -q .; then
        echo "report.sh: $page.html refers to an external resource" >&2
        exit 1
    fi
    start=$(date +%s%N)
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$work/profile-$page" --enable-logging=stderr --v=0 \
        --virtual-time-budget=30000 --dump-dom "file://$html#selftest" >"$work/$page.dom" 2>"$work/$page.log" || true
    wall=$(( ($(date +%s%N) - start) / 1000000 ))
    if grep -q 'CONSOLE' "$work/$page.log"; then
        echo "report.sh: console messages on $page.html:" >&2
        grep 'CONSOLE' "$work/$page.log" >&2
        exit 1
    fi
    result=$(grep -o 'id="selftest-result">[^<]*' "$work/$page.dom" | sed 's/.*>//') || true
    if [ -z "$result" ]; then
        echo "report.sh: $page.html: the page's script did not run" >&2
        tail -20 "$work/$page.log" >&2
        exit 1
    fi
    tensors=$(echo "$result" | sed -E 's/.*tensors=([0-9]+).*/\1/')
    figures=$(echo "$result" | sed -E 's/.*figures=([0-9]+).*/\1/')
    load=$(echo "$result" | sed -E 's/.*load_ms=([0-9]+).*/\1/')
    sections=$(grep -o '<section class="t ' "$html" | wc -l)
    echo "report.sh: $page.html: $result; chromium wall ${wall} ms"
    if [ "$tensors" != "$figures" ] || [ "$tensors" != "$sections" ] || [ "$tensors" = 0 ]; then
        echo "report.sh: $page.html: $figures figures for $tensors tensors ($sections sections)" >&2
        exit 1
    fi
    if [ "$load" -gt 15000 ]; then
        echo "report.sh: $page.html took $load ms to render and scroll" >&2
        exit 1
    fi
done
[ "$(grep -o '<section class="t ' "$work/big.html" | wc -l)" = 1000 ]
grep -q 'likely cause' "$work/small.html"
grep -q '<svg' "$work/small.html"
echo "report.sh: ok"
