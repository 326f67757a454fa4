"""Known cities: the search's "near a city" choices and the demo data's locations."""

from typing import NamedTuple


class City(NamedTuple):
    name: str
    country: str
    lat: float
    lng: float

    @property
    def slug(self) -> str:
        return self.name.lower().replace(" ", "-")


CITIES = [
    City("New York", "US", 40.7128, -74.0060),
    City("Los Angeles", "US", 34.0522, -118.2437),
    City("Chicago", "US", 41.8781, -87.6298),
    City("Houston", "US", 29.7604, -95.3698),
    City("Phoenix", "US", 33.4484, -112.0740),
    City("Philadelphia", "US", 39.9526, -75.1652),
    City("San Antonio", "US", 29.4241, -98.4936),
    City("San Diego", "US", 32.7157, -117.1611),
    City("Dallas", "US", 32.7767, -96.7970),
    City("Austin", "US", 30.2672, -97.7431),
    City("San Francisco", "US", 37.7749, -122.4194),
    City("Seattle", "US", 47.6062, -122.3321),
    City("Denver", "US", 39.7392, -104.9903),
    City("Boston", "US", 42.3601, -71.0589),
    City("Miami", "US", 25.7617, -80.1918),
    City("Atlanta", "US", 33.7490, -84.3880),
    City("Portland", "US", 45.5152, -122.6784),
    City("Brooklyn", "US", 40.6782, -73.9442),
    City("Jersey City", "US", 40.7178, -74.0431),
    City("Toronto", "CA", 43.6532, -79.3832),
    City("Vancouver", "CA", 49.2827, -123.1207),
    City("Montreal", "CA", 45.5017, -73.5673),
    City("London", "GB", 51.5074, -0.1278),
    City("Manchester", "GB", 53.4808, -2.2426),
    City("Edinburgh", "GB", 55.9533, -3.1883),
    City("Paris", "FR", 48.8566, 2.3522),
    City("Lyon", "FR", 45.7640, 4.8357),
    City("Berlin", "DE", 52.5200, 13.4050),
    City("Munich", "DE", 48.1351, 11.5820),
    City("Hamburg", "DE", 53.5511, 9.9937),
    City("Amsterdam", "NL", 52.3676, 4.9041),
    City("Madrid", "ES", 40.4168, -3.7038),
    City("Barcelona", "ES", 41.3874, 2.1686),
    City("Rome", "IT", 41.9028, 12.4964),
    City("Milan", "IT", 45.4642, 9.1900),
    City("Vienna", "AT", 48.2082, 16.3738),
    City("Stockholm", "SE", 59.3293, 18.0686),
    City("Copenhagen", "DK", 55.6761, 12.5683),
    City("Dublin", "IE", 53.3498, -6.2603),
    City("Tokyo", "JP", 35.6762, 139.6503),
    City("Osaka", "JP", 34.6937, 135.5023),
    City("Sydney", "AU", -33.8688, 151.2093),
    City("Melbourne", "AU", -37.8136, 144.9631),
]

CITIES_BY_SLUG = {city.slug: city for city in CITIES}
