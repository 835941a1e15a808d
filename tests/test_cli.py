"""CLI conventions every command follows: lazy imports, one-line errors, --json, -v."""

import json
import subprocess
import sys

from click.testing import CliRunner

from edgekit.cli import cli


def test_help_imports_no_framework():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom edgekit.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\nassert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('tensorflow', 'onnxruntime', 'ai_edge_litert', 'tf_keras', 'keras') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    for name, command in cli.commands.items():
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert "edgekit " + name in result.output, f"{name} --help shows no example"


def test_convert_json_and_errors(tmp_path, digits_model_path):
    runner = CliRunner()
    out = tmp_path / "m.tflite"
    result = runner.invoke(cli, ["convert", str(digits_model_path), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["format"] == "tflite" and data["parity"]["passed"] and data["file_bytes"] == out.stat().st_size

    missing = runner.invoke(cli, ["convert", str(tmp_path / "nope.h5")])
    assert missing.exit_code == 1
    assert missing.stderr.strip().splitlines() == [f"error: model {tmp_path / 'nope.h5'} does not exist"]

    usage = runner.invoke(cli, ["convert", str(digits_model_path), "--quantize", "int3"])
    assert usage.exit_code == 2 and "Invalid value for '--quantize'" in usage.stderr


def test_unexpected_errors_are_one_line_unless_verbose(tmp_path, monkeypatch, digits_model_path):
    from dataclasses import replace

    from edgekit.targets import TARGETS

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom\nsecond line")

    monkeypatch.setitem(TARGETS, "onnx", replace(TARGETS["onnx"], converter=boom))
    runner = CliRunner()
    quiet = runner.invoke(cli, ["convert", str(digits_model_path), "--to", "onnx", "-o", str(tmp_path / "m.onnx")])
    assert quiet.exit_code == 1
    assert quiet.stderr.strip() == "error: RuntimeError: kaboom (run with -v for the traceback)"
    loud = runner.invoke(cli, ["-v", "convert", str(digits_model_path), "--to", "onnx", "-o", str(tmp_path / "m.onnx")])
    assert loud.exit_code == 1 and "Traceback" in loud.stderr
