"""What comes from outside (files, numbers and text), checked before it is used or stored."""
