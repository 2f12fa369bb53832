"""The Tk window of the desktop emulator. It only binds: every button calls a command of the
`StationViewModel`, every label is redrawn from its state, and Tk's `after` timer drives
`poll()`, so the window never waits for the network."""

from __future__ import annotations

import threading
import tkinter as tk
from pathlib import Path
from tkinter import filedialog, font, ttk
from typing import Final

from ..events import ConnectionState
from .viewmodel import ConnectionSettings, ConnectorState, StationState, StationViewModel

POLL_MS: Final = 100
# Waiting this long after the power slider last moved before telling the station, so a drag
# is one change rather than fifty.
POWER_SETTLE_MS: Final = 250
MAX_POWER_KW: Final = 50.0
MAX_SHOWN_LOG_LINES: Final = 3_000
DEFAULT_ID_TAG: Final = "RFID-0001"

GREEN, AMBER, RED, BLUE, GREY = "#1b7f3b", "#b26b00", "#b3261e", "#1f5fa8", "#666666"
CONNECTION_COLOURS: Final = {
    ConnectionState.ONLINE: GREEN,
    ConnectionState.CONNECTING: AMBER,
    ConnectionState.BOOTING: AMBER,
    ConnectionState.DISCONNECTED: RED,
    ConnectionState.CLOSED: GREY,
}
STATUS_COLOURS: Final = {
    "Available": GREEN,
    "Preparing": BLUE,
    "Charging": GREEN,
    "SuspendedEV": AMBER,
    "SuspendedEVSE": AMBER,
    "Finishing": BLUE,
    "Reserved": AMBER,
    "Unavailable": GREY,
    "Faulted": RED,
}
# Statuses from which a session may be started by hand (on a Reserved connector, only by
# the reservation's tag: the station refuses the others).
STARTABLE: Final = frozenset({"Available", "Preparing", "Finishing", "Reserved"})


def _enable(widget: ttk.Widget, enabled: bool) -> None:
    widget.state(["!disabled"] if enabled else ["disabled"])


class ConnectionPanel(ttk.LabelFrame):
    def __init__(self, parent: tk.Misc, vm: StationViewModel) -> None:
        super().__init__(parent, text="Connection", padding=8)
        self.vm = vm
        settings = vm.settings
        self.url = tk.StringVar(self, settings.csms_url)
        self.station_id = tk.StringVar(self, settings.station_id)
        self.password = tk.StringVar(self, settings.password)
        self.vendor = tk.StringVar(self, settings.vendor)
        self.model = tk.StringVar(self, settings.model)
        fields = [
            ("CSMS URL", self.url, 42, ""),
            ("Station id", self.station_id, 14, ""),
            ("Password", self.password, 12, "•"),
            ("Vendor", self.vendor, 14, ""),
            ("Model", self.model, 16, ""),
        ]
        self.entries: list[ttk.Entry] = []
        for index, (label, variable, width, show) in enumerate(fields):
            row, column = divmod(index, 3)
            ttk.Label(self, text=label).grid(row=row, column=2 * column, sticky="w", padx=(0, 4), pady=2)
            entry = ttk.Entry(self, textvariable=variable, width=width, show=show)
            entry.grid(row=row, column=2 * column + 1, sticky="we", padx=(0, 12), pady=2)
            self.entries.append(entry)
        buttons = ttk.Frame(self)
        buttons.grid(row=1, column=4, columnspan=2, sticky="e")
        self.connect_button = ttk.Button(buttons, text="Connect", command=self.connect)
        self.connect_button.pack(side="left", padx=2)
        self.disconnect_button = ttk.Button(buttons, text="Disconnect", command=vm.disconnect)
        self.disconnect_button.pack(side="left", padx=2)
        # Kept referenced: Tk forgets a named font once its Python object is collected.
        self.bold = _bold()
        self.state_label = ttk.Label(buttons, width=13, anchor="center", font=self.bold)
        self.state_label.pack(side="left", padx=(10, 0))
        self.columnconfigure(1, weight=1)

    def connect(self) -> None:
        self.vm.connect(
            ConnectionSettings(
                csms_url=self.url.get(),
                station_id=self.station_id.get(),
                password=self.password.get(),
                vendor=self.vendor.get(),
                model=self.model.get(),
            )
        )

    def render(self, state: StationState) -> None:
        connection = state.connection
        self.state_label.configure(text=f"● {connection}", foreground=CONNECTION_COLOURS[connection])
        idle = connection in (ConnectionState.DISCONNECTED, ConnectionState.CLOSED)
        for entry in self.entries:
            _enable(entry, idle)
        _enable(self.connect_button, idle)
        _enable(self.disconnect_button, not idle)


class ConnectorPanel(ttk.LabelFrame):
    def __init__(self, parent: tk.Misc, vm: StationViewModel, connector: ConnectorState) -> None:
        super().__init__(parent, text=f"Connector {connector.connector_id}", padding=8)
        self.vm = vm
        self.connector_id = connector.connector_id
        self.bold = _bold(16)
        self.status_label = ttk.Label(self, font=self.bold, width=14)
        self.status_label.grid(row=0, column=0, columnspan=4, sticky="w", pady=(0, 6))

        self.plug_button = ttk.Button(self, text="Plug in", command=lambda: vm.plug_in(self.connector_id))
        self.plug_button.grid(row=1, column=0, sticky="we", padx=2)
        self.unplug_button = ttk.Button(self, text="Unplug", command=lambda: vm.unplug(self.connector_id))
        self.unplug_button.grid(row=1, column=1, sticky="we", padx=2)

        ttk.Label(self, text="Id tag").grid(row=2, column=0, sticky="w", pady=(6, 0))
        self.id_tag = tk.StringVar(self, DEFAULT_ID_TAG)
        ttk.Entry(self, textvariable=self.id_tag, width=16).grid(row=2, column=1, sticky="we", pady=(6, 0))
        self.start_button = ttk.Button(self, text="Start", command=self.start)
        self.start_button.grid(row=3, column=0, sticky="we", padx=2, pady=2)
        self.stop_button = ttk.Button(self, text="Stop", command=lambda: vm.stop(self.connector_id))
        self.stop_button.grid(row=3, column=1, sticky="we", padx=2, pady=2)

        ttk.Label(self, text="Power").grid(row=4, column=0, sticky="w", pady=(6, 0))
        self.power = tk.DoubleVar(self, connector.power_kw)
        self.power_label = ttk.Label(self, width=9)
        self.power_label.grid(row=4, column=1, sticky="e", pady=(6, 0))
        self.power_scale = ttk.Scale(
            self, from_=0.0, to=MAX_POWER_KW, variable=self.power, command=self._power_moved, length=220
        )
        self.power_scale.grid(row=5, column=0, columnspan=2, sticky="we")
        self._power_pending: str | None = None

        self.readings = ttk.Label(self, justify="left", font="TkFixedFont")
        self.readings.grid(row=6, column=0, columnspan=2, sticky="w", pady=(8, 0))
        self._show_power()

    def start(self) -> None:
        self.vm.start(self.connector_id, self.id_tag.get())

    def apply_power(self) -> None:
        self._power_pending = None
        self.vm.set_power(self.connector_id, round(self.power.get(), 1))

    def _power_moved(self, _value: str) -> None:
        self._show_power()
        if self._power_pending is not None:
            self.after_cancel(self._power_pending)
        self._power_pending = self.after(POWER_SETTLE_MS, self.apply_power)

    def _show_power(self) -> None:
        self.power_label.configure(text=f"{self.power.get():.1f} kW")

    def render(self, connector: ConnectorState) -> None:
        self.status_label.configure(text=connector.status, foreground=STATUS_COLOURS.get(connector.status, GREY))
        _enable(self.plug_button, not connector.cable_connected)
        _enable(self.unplug_button, connector.cable_connected)
        in_transaction = connector.transaction_id is not None
        _enable(self.start_button, not in_transaction and connector.status in STARTABLE)
        _enable(self.stop_button, in_transaction)
        transaction = f"{connector.transaction_id} ({connector.id_tag})" if in_transaction else "-"
        self.readings.configure(
            text=(
                f"Live power   {connector.live_kw:8.2f} kW\n"
                f"Register     {connector.register_wh / 1000:8.3f} kWh\n"
                f"Session      {connector.session_wh / 1000:8.3f} kWh\n"
                f"Transaction  {transaction}"
            )
        )


class StationPanel(ttk.LabelFrame):
    """Intervals, the transaction-message queue and the commands the CSMS sent."""

    def __init__(self, parent: tk.Misc, vm: StationViewModel) -> None:
        super().__init__(parent, text="Station", padding=8)
        self.vm = vm
        self.heartbeat = tk.StringVar(self)
        self.meter = tk.StringVar(self)
        ttk.Label(self, text="Heartbeat (s)").grid(row=0, column=0, sticky="w")
        self.heartbeat_entry = ttk.Entry(self, textvariable=self.heartbeat, width=7)
        self.heartbeat_entry.grid(row=0, column=1, sticky="w", padx=4)
        ttk.Label(self, text="MeterValues (s)").grid(row=0, column=2, sticky="w")
        self.meter_entry = ttk.Entry(self, textvariable=self.meter, width=7)
        self.meter_entry.grid(row=0, column=3, sticky="w", padx=4)
        self.apply_button = ttk.Button(self, text="Apply", command=self.apply_intervals)
        self.apply_button.grid(row=0, column=4, padx=4)
        self.intervals_label = ttk.Label(self, foreground=GREY)
        self.intervals_label.grid(row=1, column=0, columnspan=5, sticky="w", pady=(2, 6))

        self.queue_label = ttk.Label(self)
        self.queue_label.grid(row=2, column=0, columnspan=5, sticky="w")
        self.queue_list = tk.Listbox(self, height=4, activestyle="none")
        self.queue_list.grid(row=3, column=0, columnspan=5, sticky="nsew")
        ttk.Label(self, text="Commands from the CSMS").grid(row=4, column=0, columnspan=5, sticky="w", pady=(6, 0))
        self.csms_list = tk.Listbox(self, height=5, activestyle="none")
        self.csms_list.grid(row=5, column=0, columnspan=5, sticky="nsew")
        self.columnconfigure(4, weight=1)
        self.rowconfigure(5, weight=1)
        self._csms_shown = 0

    def apply_intervals(self) -> None:
        self.vm.set_intervals(self.heartbeat.get(), self.meter.get())

    def render(self, state: StationState) -> None:
        if state.heartbeat_interval is not None and state.meter_interval is not None:
            heartbeat, meter = state.heartbeat_interval, state.meter_interval
            self.intervals_label.configure(text=f"now: heartbeat every {heartbeat:g} s, meter values every {meter:g} s")
            # Offered as a starting point, but never over what someone is typing.
            offers = ((self.heartbeat, self.heartbeat_entry, heartbeat), (self.meter, self.meter_entry, meter))
            for variable, entry, value in offers:
                if not variable.get() and self.focus_get() is not entry:
                    variable.set(f"{value:g}")
        self.queue_label.configure(text=f"Transaction messages waiting for the CSMS: {len(state.queued)}")
        if tuple(self.queue_list.get(0, "end")) != state.queued:
            self.queue_list.delete(0, "end")
            self.queue_list.insert("end", *state.queued)
        for line in self.vm.csms_calls:
            if line.number > self._csms_shown:
                self.csms_list.insert("end", str(line))
                self._csms_shown = line.number
        self.csms_list.see("end")


class LogPanel(ttk.LabelFrame):
    def __init__(self, parent: tk.Misc, vm: StationViewModel) -> None:
        super().__init__(parent, text="Log", padding=8)
        self.vm = vm
        bar = ttk.Frame(self)
        bar.grid(row=0, column=0, columnspan=2, sticky="we", pady=(0, 4))
        ttk.Label(bar, text="Filter").pack(side="left")
        self.filter = tk.StringVar(self)
        self.filter.trace_add("write", lambda *_: vm.set_log_filter(self.filter.get()))
        ttk.Entry(bar, textvariable=self.filter, width=30).pack(side="left", padx=4)
        self.save_button = ttk.Button(bar, text="Save…", command=self.save)
        self.save_button.pack(side="left")
        self.text = tk.Text(self, height=12, wrap="none", font="TkFixedFont", state="disabled")
        self.text.grid(row=1, column=0, sticky="nsew")
        down = ttk.Scrollbar(self, orient="vertical", command=self.text.yview)
        down.grid(row=1, column=1, sticky="ns")
        across = ttk.Scrollbar(self, orient="horizontal", command=self.text.xview)
        across.grid(row=2, column=0, sticky="we")
        self.text.configure(yscrollcommand=down.set, xscrollcommand=across.set)
        self.columnconfigure(0, weight=1)
        self.rowconfigure(1, weight=1)
        self._shown_filter: str | None = None
        self._last_shown = 0

    def save(self) -> None:
        path = filedialog.asksaveasfilename(
            parent=self, title="Save the log", defaultextension=".log", initialfile="station.log"
        )
        if path:
            self.vm.save_log(Path(path))

    def render(self) -> None:
        if self.vm.log_filter != self._shown_filter:
            # A new filter: redraw from scratch.
            self._shown_filter = self.vm.log_filter
            self._last_shown = 0
            self._replace(clear=True)
        self._replace(clear=False)

    def _replace(self, *, clear: bool) -> None:
        new = [line for line in self.vm.visible_log() if line.number > self._last_shown]
        if not new and not clear:
            return
        at_end = self.text.yview()[1] >= 0.999
        self.text.configure(state="normal")
        if clear:
            self.text.delete("1.0", "end")
        if new:
            self.text.insert("end", "".join(f"{line}\n" for line in new))
            self._last_shown = new[-1].number
        excess = int(self.text.index("end-1c").split(".")[0]) - MAX_SHOWN_LOG_LINES
        if excess > 0:
            self.text.delete("1.0", f"{excess + 1}.0")
        self.text.configure(state="disabled")
        if at_end or clear:
            self.text.see("end")


class StationWindow:
    def __init__(self, root: tk.Tk, vm: StationViewModel) -> None:
        self.root = root
        self.vm = vm
        self.closed = False
        self._closing: threading.Thread | None = None
        root.title("ChargePlane station emulator")
        root.minsize(900, 600)
        root.columnconfigure(0, weight=1)
        root.rowconfigure(2, weight=1)
        self.connection = ConnectionPanel(root, vm)
        self.connection.grid(row=0, column=0, sticky="we", padx=8, pady=(8, 4))
        middle = ttk.Frame(root)
        middle.grid(row=1, column=0, sticky="nsew", padx=8, pady=4)
        self.connectors = [ConnectorPanel(middle, vm, connector) for connector in vm.state.connectors]
        for column, panel in enumerate(self.connectors):
            panel.grid(row=0, column=column, sticky="ns", padx=(0, 8))
        self.station = StationPanel(middle, vm)
        self.station.grid(row=0, column=len(self.connectors), sticky="nsew")
        middle.columnconfigure(len(self.connectors), weight=1)
        self.log = LogPanel(root, vm)
        self.log.grid(row=2, column=0, sticky="nsew", padx=8, pady=(4, 8))

        vm.subscribe(self.render)
        root.protocol("WM_DELETE_WINDOW", self.close)
        self.render()
        self._tick = root.after(POLL_MS, self._poll)

    def render(self) -> None:
        state = self.vm.state
        self.connection.render(state)
        for panel, connector in zip(self.connectors, state.connectors, strict=True):
            panel.render(connector)
        self.station.render(state)
        self.log.render()

    def close(self) -> None:
        """End the sessions and disconnect on a helper thread while Tk keeps drawing."""
        if self._closing is not None:
            return
        self.root.title("ChargePlane station emulator — closing")
        self._closing = threading.Thread(target=self.vm.close, name="close the station", daemon=True)
        self._closing.start()
        self._wait_until_closed()

    def _wait_until_closed(self) -> None:
        assert self._closing is not None
        if self._closing.is_alive():
            self.root.after(POLL_MS, self._wait_until_closed)
            return
        self.root.after_cancel(self._tick)
        self.root.destroy()
        self.closed = True

    def _poll(self) -> None:
        self.vm.poll()
        self._tick = self.root.after(POLL_MS, self._poll)


def _bold(size: int | None = None) -> font.Font:
    bold = font.nametofont("TkDefaultFont").copy()
    bold.configure(weight="bold")
    if size is not None:
        bold.configure(size=size)
    return bold
