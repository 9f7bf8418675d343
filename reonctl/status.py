"""`reonctl status`: the station at a glance, from supervisord and the bus's cached state."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from reonctl import live
from station import supervisor
from station.config import StationConfig
from station.host import running_firmware_version
from station.programs import configured_programs


def collect(config: StationConfig) -> dict[str, Any]:
    """The whole status document (`status --json`); sections of services not installed stay empty."""
    now = time.time()
    version = running_firmware_version(config.paths.data_dir, config.station.firmware_version)
    procs = supervisor.process_table(config)
    cache = live.snapshot(config) or {}
    state = {topic: item["body"] for topic, item in cache.items()}
    liveness = (state.get("bus.state.services") or {}).get("services", {})
    services = {}
    for program in configured_programs(config):
        proc = procs.get(program.name, {"state": "STOPPED" if procs else "NOT_STARTED", "pid": None,
                                        "uptime_s": None})
        beat = liveness.get(program.name, {})
        last = beat.get("last_heartbeat")
        running = proc["state"] == "RUNNING"
        if program.name == "bus":
            alive = running and bool(cache)
        elif program.on_bus:
            alive = running and bool(beat.get("alive"))
        else:
            alive = running
        services[program.name] = {
            "state": proc["state"], "pid": proc["pid"],
            "uptime_s": round(proc["uptime_s"], 1) if proc["uptime_s"] is not None else None,
            "alive": alive,
            "last_heartbeat_s": round(now - last, 2) if isinstance(last, (int, float)) else None,
            "restarts": beat.get("restarts", 0),
            "problems": list(beat.get("problems") or []),
        }
    return {
        "station": {"id": config.station.id, "serial_number": config.station.serial_number,
                    "model": config.station.model, "vendor": config.station.vendor,
                    "firmware_version": version,
                    "sim": config.sim.enabled},
        "services": services,
        "csms": _csms(config, state),
        "evses": _evses(config, state, now),
        "meters": _meters(config, state, now),
        "modem": _pick(state.get("modem.state.modem"),
                       ("iccid", "imsi", "imei", "operator", "registration", "signal_dbm", "link")),
        "firmware": _firmware(config, state),
        "reservations_any_evse": [_reservation(r) for r in
                                  (state.get("ocpp.state.reservations") or {}).get("reservations") or []
                                  if isinstance(r, dict) and r.get("evse_id") is None],
    }


def _pick(body: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    body = body if isinstance(body, dict) else {}
    return {k: body.get(k) for k in keys}


def _csms(config: StationConfig, state: dict[str, Any]) -> dict[str, Any]:
    out = _pick(state.get("ocpp.state.csms"), ("url", "connected", "registration", "queue_depth", "dead_letters",
                                               "security_profile"))
    out["url"] = out["url"] or config.csms.url
    return out


def _evses(config: StationConfig, state: dict[str, Any], now: float) -> dict[str, Any]:
    out = {}
    held = (state.get("ocpp.state.reservations") or {}).get("reservations") or []
    for evse in config.evses:
        io = state.get(f"evse_io.state.evse.{evse.id}") or {}
        tx = state.get(f"ocpp.state.transaction.{evse.id}") or {}
        sample = (state.get(f"meter.state.meter.{evse.id}") or {}).get("sample") or {}
        out[str(evse.id)] = {
            "connector_status": io.get("connector_status"),
            "charging_state": tx.get("charging_state") or io.get("charging_state"),
            "cp_state": io.get("cp_state"),
            "relays_closed": io.get("relays_closed"),
            "current_limit_a": io.get("offered_current_a"),
            "current_limit_source": _limit_source(io.get("current_limit_source")),
            "transaction_id": tx.get("transaction_id"),
            "energy_wh": sample.get("energy_import_wh"),
            "power_w": sample.get("power_w"),
            "faults": io.get("faults", []),
            "reservation": _reservation(next((r for r in held if r.get("evse_id") == evse.id), None)),
        }
    return out


def _reservation(held: Any) -> dict[str, Any] | None:
    """A reservation of `ocpp.state.reservations`: for whom (idToken), until when, its id."""
    if not isinstance(held, dict):
        return None
    token = held.get("id_token") if isinstance(held.get("id_token"), dict) else {}
    return {"id": held.get("reservation_id"), "id_token": token.get("idToken"), "until": held.get("expires_at")}


def _limit_source(source: Any) -> str | None:
    """evse_io's current_limit_source as text: "smart_charging TxProfile #3", "default", or None."""
    if not isinstance(source, dict):
        return None
    text = str(source.get("source"))
    if source.get("purpose"):
        text += f" {source['purpose']}"
    if source.get("profile_id") is not None:
        text += f" #{source['profile_id']}"
    return text


def _meters(config: StationConfig, state: dict[str, Any], now: float) -> dict[str, Any]:
    out = {}
    for evse in config.evses:
        body = state.get(f"meter.state.meter.{evse.id}") or {}
        sample = body.get("sample") or {}
        read_at = sample.get("read_at")
        out[str(evse.id)] = {
            "model": body.get("model") or (evse.meter.model if evse.meter else None),
            "link": body.get("link"),
            "energy_wh": sample.get("energy_import_wh"),
            "age_s": round(now - read_at, 1) if isinstance(read_at, (int, float)) else None,
        }
    return out


def _firmware(config: StationConfig, state: dict[str, Any]) -> dict[str, Any]:
    body = state.get("firmware.state.job") or {}
    running = running_firmware_version(config.paths.data_dir, config.station.firmware_version)
    return {"version": body.get("version") or running,
            "update_status": body.get("status"), "request_id": body.get("request_id")}


def healthy(doc: dict[str, Any]) -> bool:
    return bool(doc["services"]) and all(s["state"] == "RUNNING" and s["alive"] and not s.get("problems")
                                         for s in doc["services"].values())


def render(doc: dict[str, Any]) -> str:
    st = doc["station"]
    lines = [f"REON {st['id']}  serial {st['serial_number']}  firmware {st['firmware_version']}"
             + ("  (simulation)" if st["sim"] else "")]
    lines.append("")
    lines.append(f"{'service':<10} {'state':<12} {'pid':>7} {'uptime':>9} {'alive':<6} {'beat':>6} {'restarts':>8}")
    for name, s in doc["services"].items():
        uptime = f"{s['uptime_s']:.0f}s" if s["uptime_s"] is not None else "-"
        beat = f"{s['last_heartbeat_s']:.1f}s" if s["last_heartbeat_s"] is not None else "-"
        lines.append(f"{name:<10} {s['state']:<12} {s['pid'] or '-':>7} {uptime:>9} "
                     f"{'yes' if s['alive'] else 'NO':<6} {beat:>6} {s['restarts']:>8}")
    problems = dict.fromkeys(p for s in doc["services"].values() for p in s.get("problems", []))
    if problems:
        lines += ["", "PROBLEMS"] + [f"  {p}" for p in problems]
    c = doc["csms"]
    lines += ["", f"CSMS {c['url']}  connected {_v(c['connected'])}  registration {_v(c['registration'])}"
                  f"  queue {_v(c['queue_depth'])}  dead letters {_v(c['dead_letters'])}"]
    for evse_id, e in doc["evses"].items():
        m = doc["meters"].get(evse_id, {})
        r = e.get("reservation")
        if r:
            lines.append(f"EVSE {evse_id}  reserved for {_v(r['id_token'])} until {_v(r['until'])}"
                         f"  (reservation {_v(r['id'])})")
        lines.append(f"EVSE {evse_id}  {_v(e['connector_status'])}/{_v(e['charging_state'])}  CP {_v(e['cp_state'])}"
                     f"  relays {'closed' if e['relays_closed'] else 'open'}  limit {_v(e['current_limit_a'])} A"
                     + (f" ({e['current_limit_source']})" if e.get("current_limit_source") else "")
                     + f"  tx {_v(e['transaction_id'])}  {_v(e['energy_wh'])} Wh  {_v(e['power_w'])} W"
                     f"  meter {_v(m.get('link'))}" + (f"  faults {', '.join(e['faults'])}" if e["faults"] else ""))
    for r in doc.get("reservations_any_evse") or []:
        lines.append(f"Any EVSE  reserved for {_v(r['id_token'])} until {_v(r['until'])}  (reservation {_v(r['id'])})")
    mo = doc["modem"]
    lines.append(f"Modem {_v(mo['link'])}  {_v(mo['operator'])} {_v(mo['registration'])}  {_v(mo['signal_dbm'])} dBm"
                 f"  ICCID {_v(mo['iccid'])}  IMSI {_v(mo['imsi'])}")
    fw = doc["firmware"]
    lines.append(f"Firmware {fw['version']}  update {_v(fw['update_status'])}")
    return "\n".join(lines)


def _v(value: Any) -> str:
    return "-" if value is None else str(value)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="the status document as JSON")
@click.pass_obj
def status(config: StationConfig, as_json: bool) -> None:
    """The station at a glance; exit 0 only when every configured service is running and alive."""
    doc = collect(config)
    click.echo(json.dumps(doc, indent=2) if as_json else render(doc))
    raise SystemExit(0 if healthy(doc) else 1)
