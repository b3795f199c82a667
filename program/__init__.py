"""The program's shell: stack settings become the components' arguments, the components are built,
and the stack outputs are exported. The only package that reads StackSettings as a whole."""

# The packages the Pulumi program is made of (what a deploy imports), in dependency order.
PROGRAM_PACKAGES = ("versions", "config", "kube", "components", "program")
