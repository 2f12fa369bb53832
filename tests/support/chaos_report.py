"""The table a chaos run ends with: faults by kind, what the stations were promised, and
how much of it was lost, duplicated or wrong."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .faults import Fault, FaultKind
from .invariants import Findings

SHOWN_VIOLATIONS = 30


@dataclass(frozen=True)
class ChaosReport:
    seed: int
    stations: int
    faults: list[Fault]
    under_faults_s: float
    findings: Findings
    slowest_recovery_s: float
    drain_s: float

    def table(self) -> str:
        kinds = Counter(fault.kind for fault in self.faults)
        killed = Counter(fault.target for fault in self.faults if fault.kind is FaultKind.KILL)
        title = f"ChargePlane chaos run, seed {self.seed}"
        rows = [("faults injected", f"{len(self.faults)} over {self.under_faults_s:.0f} s")]
        for kind in FaultKind:
            detail = f"  ({', '.join(f'{name} {n}' for name, n in sorted(killed.items()))})" if kind is \
                FaultKind.KILL and killed else ""
            rows.append((f"  {kind}", f"{kinds[kind]}{detail}"))
        findings = self.findings
        rows += [
            ("stations", str(self.stations)),
            ("sessions (transactionIds given)", str(findings.sessions)),
            ("stops acknowledged", str(findings.stops)),
            ("bills", str(findings.bills)),
            ("sampled values acknowledged", str(findings.sampled_values)),
            ("lost", str(findings.count("lost"))),
            ("duplicated", str(findings.count("duplicated"))),
            ("wrong", str(findings.count("wrong"))),
            ("slowest recovery", f"{self.slowest_recovery_s:.1f} s"),
            ("outbox drain time", f"{self.drain_s:.1f} s"),
        ]
        lines = [title, "-" * len(title), *(f"  {label:<34} {value}" for label, value in rows)]
        for violation in findings.violations[:SHOWN_VIOLATIONS]:
            lines.append(f"  ! {violation.verdict}: {violation.what}: {violation.ids}")
        if len(findings.violations) > SHOWN_VIOLATIONS:
            lines.append(f"  ! ... and {len(findings.violations) - SHOWN_VIOLATIONS} more")
        return "\n".join(lines)
