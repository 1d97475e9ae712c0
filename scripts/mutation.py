"""Mutation testing of lib/kexue against tests/lib with mutmut 3 (`make mutation`; not in CI).

mutmut 3 wants the code under ./, src/ or source/; the library lives in lib/kexue. So the run
happens in a scratch copy, _build/mutation/ (ignored by git): lib/kexue is copied to src/kexue
there (a snapshot: the real tree is never mutated, and edits made meanwhile do not leak in),
tests/ to tests/, with pytest.ini and _config.yml. mutmut copies that into its own mutants/
folder and puts mutants/src first on sys.path, so `import kexue` in the tests loads the mutated
copy, not the editable install (whose finder comes after the path finder); the check below
(`--check-import`) proves it on every run.

Each module is tested by its mirror test file only (kexue/<part>/<m>.py -> tests/lib/<part>/test_<m>.py),
one worker by default. The report (markdown, per module: mutants, killed, survived, timeout, and
every survivor's diff) goes to tests/mutation-report.md unless --report says otherwise.

    .venv/bin/python scripts/mutation.py                          # the default sample below
    .venv/bin/python scripts/mutation.py --modules kexue/moe/balance.py,kexue/_validate.py
    .venv/bin/python scripts/mutation.py --sample 3 --seed 1      # 3 modules drawn with a fixed seed
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "_build" / "mutation"
#: The default sample: about 15 minutes with one worker on a loaded 2-core machine (mutmut tests
#: about 1.3 mutants a second here; kexue/diffusion/schedules.py alone has 699 mutants).
DEFAULT = ("kexue/_validate.py", "kexue/notebook.py", "kexue/attention/kv_cache.py")
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout",
          None: "not checked"}


def test_file(module: str) -> Path:
    """kexue/<part>/<m>.py -> tests/lib/<part>/test_<m>.py (the layout test enforces the mirror)."""
    rel = Path(module).relative_to("kexue")
    return Path("tests/lib") / rel.parent / f"test_{rel.name}"


def all_modules() -> list[str]:
    lib = ROOT / "lib"
    return sorted(str(p.relative_to(lib)) for p in (lib / "kexue").rglob("*.py")
                  if p.name != "__init__.py" and "widgets" not in p.parts
                  and (ROOT / test_file(str(p.relative_to(lib)))).exists())


def workdir(module: str) -> Path:
    return WORK / module[:-3].replace("/", ".")


def prepare(module: str) -> None:
    modules = [module]
    work = workdir(module)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    shutil.copytree(ROOT / "lib" / "kexue", work / "src" / "kexue", ignore=ignore)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    for name in ("pytest.ini", "_config.yml"):
        shutil.copy2(ROOT / name, work / name)
    (work / "scripts").symlink_to(ROOT / "scripts")   # tests/conftest.py puts scripts/ on sys.path
    tests = [str(test_file(m)) for m in modules]
    lines = ["[mutmut]", "source_paths = src/kexue", "only_mutate ="]
    lines += [f"    src/{m}" for m in modules]
    lines += ["pytest_add_cli_args_test_selection ="] + [f"    {t}" for t in tests]
    lines += ["also_copy =", "    pytest.ini", "    _config.yml", "    scripts",
              "use_git_change_detection = false", "track_dependencies = false", ""]
    (work / "setup.cfg").write_text("\n".join(lines))


def check_import(module: str) -> str:
    work = workdir(module)
    """The tests must import the mutated copy: run mutmut's own sys.path set-up, import the module."""
    name = module[:-3].replace("/", ".")
    code = ("import sys; from mutmut.utils.file_utils import setup_source_paths; setup_source_paths();"
            f"import importlib; v = importlib.import_module({name!r}); print(v.__file__);"
            "print('trampoline' if 'mutmut' in open(v.__file__).read() else 'original')")
    out = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True)
    return out.stdout.strip() + out.stderr.strip()[-500:]


def collect(modules: list[str]) -> dict[str, dict]:
    result = {}
    for m in modules:
        meta = workdir(m) / "mutants" / "src" / (m + ".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        rows = {name: STATUS.get(code, "suspicious") for name, code in codes.items()}
        result[m] = rows
    return result


def diffs(module: str, names: list[str]) -> dict[str, str]:
    """The +/- lines of each named mutant, from mutmut's own diff (one process per module)."""
    if not names:
        return {}
    code = ("import json, sys; from mutmut.mutation.diff_apply import get_diff_for_mutant;"
            f"path = {'src/' + module!r};"
            "print(json.dumps({n: get_diff_for_mutant(n, path=path) for n in sys.argv[1:]}))")
    out = subprocess.run([sys.executable, "-c", code, *names], cwd=workdir(module),
                         capture_output=True, text=True)
    try:
        raw = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {n: out.stderr[-300:] for n in names}
    return {n: "\n".join(line for line in d.splitlines() if line.startswith(("+", "-"))
                         and not line.startswith(("+++", "---"))) for n, d in raw.items()}


FOOTER = """## How the run is checked

- mutmut's own forced-fail run (every trampoline raises) must fail the selected tests before any
  mutant is tested; then this script imports each module with mutmut's sys.path set-up and
  refuses to write a report unless the file it gets is the mutated copy (`trampoline` above).
- By hand, once: in the kv_cache scratch copy, `MUTANT_UNDER_TEST=kexue.attention.kv_cache.x_ram_floats__mutmut_1`
  (`hidden = None` in `ram_floats`) with `PYTHONPATH=src` made the two ram_floats tests fail
  ("2 failed"), and an empty `MUTANT_UNDER_TEST` made them pass ("2 passed"); `kexue.__file__`
  was the copy under `_build/mutation/`.
- The seven bugs planted by hand in the earlier audit (each in a scratch copy of lib/kexue put
  first on PYTHONPATH, never in the tree) are all caught by tests/lib: `sparse_softmax_loss`
  without the target in the top-k set (test_softmax.py), `GaussianMixture` without the
  `-d/2 log(s_k^2 + sigma^2)` term (test_mixture.py), `trajectory_pca` centred over axis -1
  (test_amed.py, `test_trajectory_pca_matches_the_svd_of_the_centred_points`, added with this
  report: it had survived again), `check_decreasing` accepting repeated sigmas
  (test__validate.py, test_samplers.py), `panel()` without its x/y length check
  (tests/lib/widgets), `below()` on the signed value and `setup()` without `torch.manual_seed`
  (test_notebook.py).
"""


#: Survivors judged equivalent (no test can tell them from the original), with the reason. Keyed
#: by mutmut's name, which is stable while the function's code is unchanged; a stale entry is
#: simply not shown.
EQUIVALENT = {
    "kexue._validate.x_as_float_array__mutmut_16":
        "drops the one-sum fast path of the finiteness check: the entry-wise scan after it gives the "
        "same verdict and message (only slower)",
    "kexue.attention.kv_cache.x_config_cache_elements__mutmut_20":
        "an MHA config counted as GQA with g = n_kv_heads = n_heads gives the same 2 g d_k per layer",
    "kexue._validate.x_check_in_range__mutmut_4":
        "`isnan(lo) and isnan(hi) or not lo <= hi`: a single NaN end already makes `not lo <= hi` true",
    "kexue._validate.x_like_input__mutmut_10":
        "`device=None` keeps the tensor's device; the library and its tests run on the CPU only, "
        "where reference.device is the CPU too",
    "kexue._validate.x_like_input__mutmut_12":
        "dropping `device=` is the same as device=None (see the mutant above): CPU only",
    "kexue._validate.x_as_float_tensor__mutmut_19":
        "numpy reads order=\"c\" as order=\"C\"",
    "kexue._validate.x_as_int_array__mutmut_22":
        "`kind not in \"XXiuXX\"`: no numpy dtype has kind \"X\", so only i and u pass, as before",
    "kexue.notebook.x_below__mutmut_11": "`ok = None` instead of False: only `not ok` reads it",
    "kexue.notebook.xǁClaimsǁ_sorted__mutmut_16":
        "11**9 instead of 10**9 as the sort key of unnumbered rows: both exceed any claim number "
        "a post has (claims are numbered 1, 2, ... in the post's order)",
    "kexue.notebook.xǁClaimsǁ_sorted__mutmut_17": "10**10 instead of 10**9: as above",
}


def report(path: Path, modules: list[str], res: dict[str, dict], children: int) -> None:
    keys = ("killed", "survived", "timeout", "no tests")
    tot = dict.fromkeys(("mutants", "equivalent", "other") + keys, 0)
    seconds = sum(float((workdir(m) / "seconds").read_text()) for m in modules
                  if (workdir(m) / "seconds").exists())
    out = ["# Mutation testing report", "",
           f"Written by `make mutation` (scripts/mutation.py, mutmut 3.8.1): {len(modules)} module(s), "
           f"{children} worker(s), {seconds / 60:.1f} min of mutmut runs in all. Each module is tested "
           "by its mirror test file only, in a scratch copy under _build/mutation/ whose mutated "
           "modules the tests import (checked on every run). Equivalent mutants are listed with the "
           "reason; score = (killed + timeout) / (mutants - equivalent).", "",
           "| module | tests | mutants | killed | survived | timeout | no tests | equivalent | score |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    survivors = []
    for m in modules:
        rows = res[m]
        c = {k: sum(1 for s in rows.values() if s == k) for k in keys}
        eq = sum(1 for n, s in rows.items() if n in EQUIVALENT and s not in ("killed", "timeout"))
        det = c["killed"] + c["timeout"]
        score = 100 * det / max(len(rows) - eq, 1)
        out.append(f"| `{m}` | `{test_file(m)}` | {len(rows)} | {c['killed']} | {c['survived']} | "
                   f"{c['timeout']} | {c['no tests']} | {eq} | {score:.1f} % |")
        tot["mutants"] += len(rows)
        tot["equivalent"] += eq
        for k in keys:
            tot[k] += c[k]
        survivors += [(m, n, s) for n, s in sorted(rows.items()) if s not in ("killed", "timeout")]
    det = tot["killed"] + tot["timeout"]
    score = 100 * det / max(tot["mutants"] - tot["equivalent"], 1)
    out.append(f"| **total** | | {tot['mutants']} | {tot['killed']} | {tot['survived']} | "
               f"{tot['timeout']} | {tot['no tests']} | {tot['equivalent']} | **{score:.1f} %** |")
    out += ["", f"Killed (or timed out) {det} of {tot['mutants'] - tot['equivalent']} non-equivalent "
            f"mutants: {score:.1f} %.", ""]
    out += ["## Survivors", ""] + ([] if survivors else ["None.", ""])
    shown = {}
    for m in modules:
        shown.update(diffs(m, [n for mm, n, _ in survivors if mm == m]))
    for m, n, s in survivors:
        why = EQUIVALENT.get(n)
        out += [f"### `{n}` ({'equivalent' if why else s})", ""] + ([f"Equivalent: {why}.", ""] if why else [])
        out += ["```diff", shown.get(n, "?"), "```", ""]
    out += [FOOTER]
    path.write_text("\n".join(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modules", default=os.environ.get("MODULES", ""),
                    help="comma-separated kexue/... paths (default: a fixed sample)")
    ap.add_argument("--sample", type=int, default=0, help="draw N modules (seeded) instead")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-children", type=int, default=int(os.environ.get("MUTATION_JOBS", "1")))
    ap.add_argument("--report", default=str(ROOT / "tests" / "mutation-report.md"))
    ap.add_argument("--report-only", action="store_true", help="re-read the last run, no mutmut")
    a = ap.parse_args()
    if a.sample:
        modules = sorted(random.Random(a.seed).sample(all_modules(), a.sample))
    else:
        modules = [m.strip() for m in a.modules.split(",") if m.strip()] or list(DEFAULT)
    for m in modules:
        if not (ROOT / "lib" / m).exists() or not (ROOT / test_file(m)).exists():
            sys.exit(f"{m}: no such module under lib/, or no mirror test {test_file(m)}")
    print("modules:", ", ".join(modules), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    for m in modules:   # one shard per module, each in its own scratch copy
        if not a.report_only:
            t1 = time.time()
            prepare(m)
            subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(a.max_children)],
                           cwd=workdir(m), env=env, check=False)
            (workdir(m) / "seconds").write_text(f"{time.time() - t1:.0f}")
        imported = check_import(m)
        print(imported, flush=True)
        if "trampoline" not in imported:
            sys.exit(f"{m}: the tests did not import the mutated copy: the report would be meaningless")
    res = collect(modules)
    report(Path(a.report), modules, res, a.max_children)
    print("report:", a.report)


if __name__ == "__main__":
    main()
