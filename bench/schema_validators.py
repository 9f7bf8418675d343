"""Schema validators measured against each other on the OCPP 2.0.1 schemas REON checks every CALL with:
jsonschema (what the `ocpp` package uses: Draft4Validator, iter_errors + best_match as REON did), fastjsonschema
(compiles a schema to Python code) and jsonschema-rs (a Rust validator). For Heartbeat and MeterValues,
request and response: compile time of the schema, µs per validation of a valid payload, and the RSS added by
compiling all four (each library in a process of its own). Prints figures.

    python bench/schema_validators.py [--rounds 20000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NOW = "2024-05-01T12:00:00.000Z"
METER_VALUES = {"evseId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [
    {"value": 123456.0, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
    {"value": 7360.0, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
    {"value": 32.0, "measurand": "Current.Import", "phase": "L1"},
    {"value": 230.1, "measurand": "Voltage", "phase": "L1-N"},
]}]}
CASES = [("HeartbeatRequest", {}), ("HeartbeatResponse", {"currentTime": NOW}),
         ("MeterValuesRequest", METER_VALUES), ("MeterValuesResponse", {})]
LIBRARIES = ("jsonschema", "fastjsonschema", "jsonschema-rs")


def _schema(name: str) -> dict[str, Any]:
    import ocpp

    schema = json.loads((Path(ocpp.__file__).parent / "v201" / "schemas" / f"{name}.json").read_text())
    schema["$schema"] = "http://json-schema.org/draft-04/schema#"  # the draft the `ocpp` package checks with
    return schema


def _compiler(library: str) -> Any:
    if library == "jsonschema":
        from jsonschema import Draft4Validator
        from jsonschema.exceptions import best_match

        def compile_jsonschema(schema: dict[str, Any]) -> Any:
            validator = Draft4Validator(schema)
            return lambda payload: best_match(validator.iter_errors(payload)) is None
        return compile_jsonschema
    if library == "fastjsonschema":
        import fastjsonschema

        def compile_fast(schema: dict[str, Any]) -> Any:
            check = fastjsonschema.compile(schema)

            def valid(payload: Any) -> bool:
                try:
                    check(payload)
                    return True
                except fastjsonschema.JsonSchemaException:
                    return False
            return valid
        return compile_fast
    import jsonschema_rs

    return lambda schema: jsonschema_rs.Draft4Validator(schema).is_valid


def measure(library: str, rounds: int, out: Any) -> None:
    import psutil

    schemas = {name: _schema(name) for name, _ in CASES}
    compile_schema = _compiler(library)
    rss_before = psutil.Process().memory_info().rss
    rows = []
    for name, payload in CASES:
        started = time.perf_counter()
        valid = compile_schema(schemas[name])
        compile_ms = (time.perf_counter() - started) * 1000
        assert valid(payload), f"{library}: {name} payload found invalid"
        started = time.perf_counter()
        for _ in range(rounds):
            valid(payload)
        rows.append((name, compile_ms, (time.perf_counter() - started) / rounds * 1e6))
    out.put((library, rows, (psutil.Process().memory_info().rss - rss_before) / 2**20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20_000, help="validations per schema and library")
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the bench runs, in seconds")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 200
    ctx = mp.get_context("spawn")
    results = {}
    for library in LIBRARIES:
        out = ctx.Queue()
        proc = ctx.Process(target=measure, args=(library, args.rounds, out))
        proc.start()
        name, rows, rss_mb = out.get(timeout=120)
        proc.join(10)
        results[name] = (rows, rss_mb)
    print(f"OCPP 2.0.1 schema validation of a valid payload, {args.rounds:,} rounds each (Draft 4 rules)")
    print(f"{'schema':<22}" + "".join(f"{lib + ' µs':>18}{'compile ms':>12}" for lib in LIBRARIES))
    for i, (case, _) in enumerate(CASES):
        line = f"{case:<22}"
        for lib in LIBRARIES:
            _, compile_ms, per_us = results[lib][0][i]
            line += f"{per_us:>18.2f}{compile_ms:>12.1f}"
        print(line)
    print("RSS added by importing the library and compiling the 4 schemas: "
          + ", ".join(f"{lib} {results[lib][1]:.1f} MB" for lib in LIBRARIES))


if __name__ == "__main__":
    main()
