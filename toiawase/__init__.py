"""toiawase (問い合わせ): the console script (:mod:`toiawase.cli`), at the top of the import graph."""
