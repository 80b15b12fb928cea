"""Importers: other projects' data into Clausewatch (Open Terms Archive declarations and
histories, in ota). Must never: be needed by a monitoring pass.
"""
