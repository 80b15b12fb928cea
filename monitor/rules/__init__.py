"""Rules: what a sentence says, in a small readable language.

Owns: the rule language and matching (language), reading rule packs (files, packs/*.yaml),
the content licence's scope and how two licences compare (scope), learning weighted rules
from a labelled corpus (learn), and the one alert policy (policy: what is a threat, for
feeds, digest, site and check). Must never: know about diffs,
the archive or the network.
"""
