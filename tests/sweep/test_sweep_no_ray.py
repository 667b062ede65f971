"""The default (local) sweep path works without Ray installed; `--ray` then says how to get it."""

import subprocess
import sys

BLOCK_RAY = '''
import sys
class _NoRay:
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NoRay())
'''


def test_sweep_without_ray(tmp_path):
    sweep = tmp_path / "s.toml"
    sweep.write_text('[grid]\nmodels = ["micronet-m0"]\ninput_sizes = [32]\ntargets = ["onnx"]\n'
                     'precisions = ["fp32"]\n[bench]\nseconds = 2.5\n')
    code = BLOCK_RAY + f'''
import edgekit.cli.app, edgekit.sweep.engine_local, edgekit.sweep.engine_ray
assert "ray" not in sys.modules
from edgekit.cli.app import main
for args in (["sweep", {str(sweep)!r}, "-o", {str(tmp_path / "r")!r}, "--dry-run"],
             ["sweep", {str(sweep)!r}, "-o", {str(tmp_path / "r")!r}, "--ray", "127.0.0.1:1"]):
    try:
        main(args)
    except SystemExit as exc:
        print("exit", exc.code)
'''
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "cells: 1 (0 already done)" in proc.stdout
    assert "device local: 1 cell(s) to time, 2 device-seconds of timing" in proc.stdout
    assert "exit 2" in proc.stdout, proc.stdout + proc.stderr
    assert "error: --ray needs Ray: pip install -c constraints.txt 'edgekit[ray]'" in proc.stderr
