// The clinic's setting (GET /api/v1/clinic): its region, emergency number
// and temperature unit, so every page speaks as its patients expect.

const US = { region: 'US', emergency_number: '911', temperature_unit: 'F' };
let pending = null;

/** The clinic's settings; US defaults when the server cannot be reached. */
export function clinicSettings() {
  pending ??= fetch('/api/v1/clinic', { cache: 'no-store', credentials: 'omit' })
    .then((r) => (r.ok ? r.json() : US))
    .catch(() => US);
  return pending;
}

export const toCelsius = (fahrenheit) => Math.round(((fahrenheit - 32) * 5 / 9) * 10) / 10;
export const toFahrenheit = (celsius) => Math.round((celsius * 9 / 5 + 32) * 10) / 10;

/** "38.5 °C (101.3 °F)" where Fahrenheit is read, "38.5 °C" elsewhere. */
export function temperature(celsius, settings) {
  const c = `${Number(celsius).toFixed(1)} °C`;
  return settings?.temperature_unit === 'F' ? `${c} (${toFahrenheit(celsius).toFixed(1)} °F)` : c;
}

/** Words spelled as the region spells them. */
export function spelled(settings, us, gb) {
  return settings?.region === 'GB' ? gb : us;
}
