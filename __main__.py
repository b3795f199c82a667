"""mesh-tracing: read the stack's settings, build the components, export what operators read."""

from config.reading import load_settings
from program.outputs import stack_outputs
from program.wiring import build, export

loaded = load_settings()
export(stack_outputs(loaded.settings, build(loaded.settings, loaded.secrets)))
