/** The board every command uses without --port or $XBAR_PORT: an emulated 64 x 64 Ag:a-Si array. */
export const DEFAULT_URL = "emu://?rows=64&cols=64&device=agsi&seed=1";
