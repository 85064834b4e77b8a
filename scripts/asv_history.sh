#!/usr/bin/env bash
# Benchmark the last N commits with asv (a virtualenv built once and reused; torch comes from
# the pinned CPU wheel), publish asv's site, and draw pairbench's history report.
#   usage: scripts/asv_history.sh [N=5] [extra asv run options, e.g. --quick or --bench Config]
# Results land in .asv/results (git-ignored); the site in .asv/html; the report in .asv/report.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5}; shift || true
asv machine --yes >/dev/null
# the N newest commits of main, oldest first; asv skips commits whose results it already has
asv run --skip-existing-commits --record-samples --show-stderr "$@" "HEAD~${n}..HEAD"
asv publish
pairbench report --results .asv/results --out .asv/report
echo "asv site: .asv/html/index.html   pairbench report: .asv/report/index.html"
