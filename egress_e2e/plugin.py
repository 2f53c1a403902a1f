"""pytest plugin for the e2e scenarios. (Being built: see the foundation issue.)"""
