"""The ServerApp and ClientApp of phase 4; their settings come from the run config's `federation` file."""

from astrotrain.components.galactic.apps import make_client_app, make_server_app

client_app = make_client_app()
server_app = make_server_app()
