"""Rules: what a sentence says, in a small readable language.

Owns: the rule language and matching (language), reading rule packs (files, packs/*.yaml),
and learning weighted rules from a labelled corpus (learn). Must never: know about diffs,
the archive or the network.
"""
