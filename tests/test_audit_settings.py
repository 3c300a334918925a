"""params/audit.yaml: the seed's settings, validated, errors at file:line and field."""
import pytest

from qmtl_research.data.portfolio import demo_portfolio, real_portfolio
from qmtl_research.risk.audit_settings import load_audit_settings, resolve_benchmark
from qmtl_research.errors import ConfigError


def test_shipped_settings_are_the_seeds():
    s = load_audit_settings()
    assert s.snapshot.enabled is True and s.snapshot.time == "16:00" and s.snapshot.timezone == "Asia/Seoul"
    assert s.benchmark == "KOSPI" and s.benchmark_series() == "KOSPI (synthetic)"
    assert s.alerts.max_drawdown == -0.10 and s.alerts.daily_loss == -0.03
    assert s.source.endswith("params/audit.yaml")


@pytest.mark.parametrize("body, line, field, message", [
    ("audit:\n  benchmark: KOSDAQ\n", 2, "audit.benchmark", "no KOSDAQ series"),
    ("audit:\n  alerts:\n    max_drawdown: 0.10\n", 3, "audit.alerts.max_drawdown", "negative fraction"),
    ("audit:\n  alerts:\n    daily_loss: -3\n", 3, "audit.alerts.daily_loss", "negative fraction"),
    ("audit:\n  snapshot:\n    time: 16:00\n", 3, "audit.snapshot.time", "quoted"),
    ("audit:\n  snapshot:\n    time: \"24:10\"\n", 3, "audit.snapshot.time", "HH:MM"),
    ("audit:\n  snapshot:\n    timezone: Mars/Base\n", 3, "audit.snapshot.timezone", "time zone"),
    ("audit:\n  snapshot:\n    enabled: true\n  alert:\n    daily_loss: -0.03\n", 4, "audit.alert", "Extra"),
    ("snapshot:\n  enabled: true\n", 1, "audit", "Field required"),
])
def test_errors_name_file_line_and_field(tmp_path, body, line, field, message):
    p = tmp_path / "audit.yaml"
    p.write_text(body)
    with pytest.raises(ConfigError) as exc:
        load_audit_settings(p)
    text = str(exc.value)
    assert f"{p}:{line} field '{field}'" in text and message in text, text


def test_benchmark_resolves_to_the_projects_series(tmp_path):
    s = load_audit_settings()
    demo = demo_portfolio()
    b, name = resolve_benchmark(demo, s)
    assert name == "KOSPI (synthetic)" and b.equals(demo.benchmark_returns)
    real = real_portfolio(start="2020-01-02")
    with pytest.raises(ConfigError) as exc:
        resolve_benchmark(real, s)
    line = next(i for i, t in enumerate(open(s.source), 1) if t.strip().startswith("benchmark:"))
    assert f"params/audit.yaml:{line} field 'audit.benchmark'" in str(exc.value) and "SP500" in exc.value.fix
    b, name = resolve_benchmark(real, s, "SP500")
    assert name == "S&P 500" and b.equals(real.benchmark_returns)
    assert resolve_benchmark(real, s, "none") == (None, None)
