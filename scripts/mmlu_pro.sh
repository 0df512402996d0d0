#!/usr/bin/env bash
# Real outcomes: MMLU-Pro. Each of 20 language models is an agent; its right
# answers are `ok` evidence and its wrong ones `fail`. Each model's scope is
# fitted in risk mode on a seeded half of the (de-duplicated) questions and
# audited on the other half, for epsilon in {0.1, 0.2, 0.3} at delta 0.05.
#
# The fit half is split again, by the same seed: half of it places the
# prototypes (source train: ok answers as prototypes, wrong ones as outside
# evidence that chooses k), half calibrates the scale (source eval, both
# kinds). The held-out half is streamed through `bureau audit`, never stored.
#
# Usage: scripts/mmlu_pro.sh [work dir, default target/mmlu_pro]
# Env: SEED (default 7), BUREAU (the binary, default target/release/bureau).
# Embedding the ~11.9k questions takes a few minutes once; the store caches
# them, so reruns in the same work dir are fast.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-target/mmlu_pro}
SEED=${SEED:-7}
BUREAU=${BUREAU:-${CARGO_TARGET_DIR:-target}/release/bureau}
EPSILONS=(0.1 0.2 0.3)
DELTA=0.05
mkdir -p "$WORK"
[ -x "$BUREAU" ] || cargo build --release --bin bureau

# 1. De-duplicate, split, and write agents, situations and evidence.
python3 - "$WORK" "$SEED" <<'EOF'
import csv, json, random, sys
work, seed = sys.argv[1], int(sys.argv[2])
questions = {}
with open("data/mmlu_pro/questions.jsonl") as f:
    for line in f:
        q = json.loads(line)
        # The situation a model sees: the question and its options.
        text = q["text"] + "\nOptions: " + " | ".join(q["options"])
        questions[q["question_id"]] = text
with open("data/mmlu_pro/matrix.csv") as f:
    rows = list(csv.DictReader(f))
models = list(rows[0].keys())[4:]
# Identical question and options: keep the first row of each group.
seen, kept = set(), []
for r in rows:
    text = questions[int(r["question_id"])]
    if text not in seen:
        seen.add(text)
        kept.append((text, r))
random.Random(seed).shuffle(kept)
half = len(kept) // 2
fit, held = kept[:half], kept[half:]
quarter = len(fit) // 2
def lines(part, source):
    for text, r in part:
        for m in models:
            if r[m] in ("0", "1"):
                outcome = "ok" if r[m] == "1" else "fail"
                yield {"text": text, "agent": m, "outcome": outcome, "source": source}
def write(name, items):
    with open(f"{work}/{name}", "w") as out:
        for item in items:
            out.write(json.dumps(item) + "\n")
write("agents.jsonl", ({"name": m, "mission": "MMLU-Pro answers"} for m in models))
write("situations.jsonl", ({"text": t} for t, _ in kept))
write("fit.jsonl", list(lines(fit[:quarter], "train")) + list(lines(fit[quarter:], "eval")))
write("held.jsonl", lines(held, "eval"))
print(f"{len(rows)} rows, {len(kept)} distinct questions: {len(fit)} fit "
      f"({quarter} prototypes, {len(fit) - quarter} calibration), {len(held)} held out",
      file=sys.stderr)
EOF

# 2. Store: agents, every question's embedding (cached once), fit evidence.
DB="$WORK/bureau.db"
if [ ! -f "$DB" ]; then
  "$BUREAU" --db "$DB" init >/dev/null
  "$BUREAU" --db "$DB" import situations "$WORK/situations.jsonl" >/dev/null
  "$BUREAU" --db "$DB" import agents "$WORK/agents.jsonl" >/dev/null
  "$BUREAU" --db "$DB" import evidence "$WORK/fit.jsonl" >/dev/null
fi

# 3. Fit on one half, audit on the other, per epsilon.
for EPS in "${EPSILONS[@]}"; do
  "$BUREAU" --db "$DB" --json fit --epsilon "$EPS" --delta "$DELTA" --seed "$SEED" \
    >"$WORK/fit-$EPS.json"
  "$BUREAU" --db "$DB" --json audit --evidence "$WORK/held.jsonl" >"$WORK/audit-$EPS.json"
done

# 4. The table: per model and epsilon, share of held-out questions inside,
# held-out failure rate inside, and whether it stayed <= epsilon.
python3 - "$WORK" "${EPSILONS[@]}" <<'EOF'
import json, sys
work, epsilons = sys.argv[1], sys.argv[2:]
audits = {e: {a["agent"]: a for a in json.load(open(f"{work}/audit-{e}.json"))["agents"]}
          for e in epsilons}
models = list(audits[epsilons[0]])
head = "| model | held-out acc. |" + "".join(
    f" eps {e}: inside | fail rate | <= eps |" for e in epsilons)
print(head)
print("|---|---:|" + "---:|---:|:---:|" * len(epsilons))
stayed, nonempty = {e: 0 for e in epsilons}, {e: 0 for e in epsilons}
for m in models:
    a0 = audits[epsilons[0]][m]
    n = sum(a0["inside"].values()) + sum(a0["outside"].values())
    ok = a0["inside"]["ok"] + a0["outside"]["ok"]
    cells = [m, f"{ok / n:.3f}"]
    for e in epsilons:
        a = audits[e][m]
        inside = a["inside"]["ok"] + a["inside"]["fail"]
        if inside == 0:
            cells += ["0.000", "-", "empty"]
            continue
        rate = a["inside"]["fail"] / inside
        ok_e = rate <= float(e)
        stayed[e] += ok_e
        nonempty[e] += 1
        cells += [f"{inside / n:.3f}", f"{rate:.3f}", "yes" if ok_e else "**no**"]
    print("| " + " | ".join(cells) + " |")
for e in epsilons:
    print(f"\neps {e}: {nonempty[e]} non-empty scopes, {stayed[e]} stayed <= eps", end="")
print()
EOF
