"""The desktop station emulator (`chargeplane-emulator-gui`): one `Station`, played by hand.

`viewmodel` holds the observable state and the commands and runs the station on a background
event loop (`background`); `window` is the Tk view that only binds to it.
"""
