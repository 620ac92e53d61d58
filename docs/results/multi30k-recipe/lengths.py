"""Output length against the references, val and test, for round 11's en→de runs (README, round 11).

    python docs/results/multi30k-recipe/lengths.py ../shared/data/multi30k

For each beam-5 hypothesis file kept in r11-*/hypotheses/ (penalty 0.6 and 1.4, val and test): lowercased
BLEU, the length ratio (hypothesis / reference tokens, sacreBLEU's 13a) and the brevity penalty; then the
German words per English word of each split's references, read from the raw Multi30k files in the
folder given (not kept here).
"""

import gzip
import sys
from pathlib import Path

import sacrebleu

HERE = Path(__file__).resolve().parent
SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}


def lines(root: Path, split: str, lang: str) -> list[str]:
    with gzip.open(root / f"{SPLITS[split]}.{lang}.gz", "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def main(root: Path) -> None:
    refs = {split: lines(root, split, "de") for split in ("val", "test")}
    print("| run | hypotheses | BLEU (lc) | length ratio | brevity penalty |")
    print("|---|---|---:|---:|---:|")
    for run in sorted(HERE.glob("r11-*")):
        for hyp_file in sorted((run / "hypotheses").glob("*.txt")):
            split = hyp_file.name.split(".")[0]
            hyps = hyp_file.read_text(encoding="utf-8").splitlines()
            bleu = sacrebleu.corpus_bleu(hyps, [refs[split]], lowercase=True)
            ratio = bleu.sys_len / bleu.ref_len
            print(f"| {run.name} | {hyp_file.name} | {bleu.score:.2f} | {ratio:.3f} | {bleu.bp:.3f} |")
    print()
    for split in SPLITS:
        en, de = (sum(len(line.split()) for line in lines(root, split, lang)) for lang in ("en", "de"))
        print(f"{split}: {de / en:.3f} German words per English word")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
