#include "tools/loadgen/plot.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/loadgen/stats.h"

namespace triptych::loadgen {
namespace {

constexpr double kWidth = 1000;
constexpr double kHeight = 900;

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// A step of 1, 2 or 5 x 10^k giving about five ticks over [0, max].
double NiceStep(double max) {
  if (!(max > 0)) return 1;
  const double raw = max / 5;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * mag) return m * mag;
  }
  return 10 * mag;
}

std::string Label(double v) {
  if (v != 0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-2)) {
    return absl::StrFormat("%.1e", v);
  }
  return absl::StrFormat("%g", std::round(v * 100) / 100);
}

// A plot area at (x, y) of size (w, h) with data ranges [0, xmax] x [0, ymax].
struct Panel {
  double x, y, w, h, xmax, ymax;
  double X(double v) const { return x + w * std::clamp(v / xmax, 0.0, 1.0); }
  double Y(double v) const {
    return y + h - h * std::clamp(v / ymax, 0.0, 1.0);
  }
};

void Axes(std::string& s, const Panel& p, const std::string& title,
          const std::string& xlabel, const std::string& ylabel,
          bool y_ticks = true) {
  absl::StrAppendFormat(&s,
                        "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' "
                        "fill='#fcfcfc' stroke='#888'/>\n",
                        p.x, p.y, p.w, p.h);
  absl::StrAppendFormat(&s,
                        "<text x='%.1f' y='%.1f' font-size='14' "
                        "font-weight='bold' text-anchor='middle'>%s</text>\n",
                        p.x + p.w / 2, p.y - 8, Escape(title));
  const double xs = NiceStep(p.xmax);
  for (double v = 0; v <= p.xmax * 1.0001; v += xs) {
    absl::StrAppendFormat(&s,
                          "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
                          "stroke='#ddd'/><text x='%.1f' y='%.1f' "
                          "font-size='10' text-anchor='middle'>%s</text>\n",
                          p.X(v), p.y, p.X(v), p.y + p.h, p.X(v),
                          p.y + p.h + 13, Label(v));
  }
  if (y_ticks) {
    const double ys = NiceStep(p.ymax);
    for (double v = 0; v <= p.ymax * 1.0001; v += ys) {
      absl::StrAppendFormat(&s,
                            "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
                            "stroke='#ddd'/><text x='%.1f' y='%.1f' "
                            "font-size='10' text-anchor='end'>%s</text>\n",
                            p.x, p.Y(v), p.x + p.w, p.Y(v), p.x - 4, p.Y(v) + 3,
                            Label(v));
    }
  }
  absl::StrAppendFormat(&s,
                        "<text x='%.1f' y='%.1f' font-size='11' "
                        "text-anchor='middle'>%s</text>\n",
                        p.x + p.w / 2, p.y + p.h + 28, Escape(xlabel));
  absl::StrAppendFormat(&s,
                        "<text x='%.1f' y='%.1f' font-size='11' "
                        "text-anchor='middle' transform='rotate(-90 %.1f "
                        "%.1f)'>%s</text>\n",
                        p.x - 38, p.y + p.h / 2, p.x - 38, p.y + p.h / 2,
                        Escape(ylabel));
}

void Cdf(std::string& s, double x, double y, double w, double h,
         const std::string& name, std::vector<double> values) {
  std::sort(values.begin(), values.end());
  // The x range ends at p99.5 so that a few outliers do not squash the
  // curve; the p99 marker stays visible.
  double xmax = values.empty() ? 1 : PercentileSorted(values, 99.5) * 1.05;
  if (!(xmax > 0))
    xmax = values.empty() || values.back() <= 0 ? 1 : values.back();
  const Panel p{x, y, w, h, xmax, 1};
  Axes(s, p, absl::StrCat(name, " CDF (n=", values.size(), ")"),
       absl::StrCat(name, " (ms)"), "fraction of requests");
  if (values.empty()) {
    absl::StrAppendFormat(&s,
                          "<text x='%.1f' y='%.1f' font-size='12' "
                          "text-anchor='middle' fill='#999'>no data</text>\n",
                          x + w / 2, y + h / 2);
    return;
  }
  std::string points;
  const size_t n = values.size();
  const size_t step = std::max<size_t>(1, n / 600);
  for (size_t i = 0; i < n; i += step) {
    absl::StrAppendFormat(&points, "%.1f,%.1f ", p.X(values[i]),
                          p.Y(static_cast<double>(i + 1) / n));
  }
  absl::StrAppendFormat(&points, "%.1f,%.1f", p.X(values.back()), p.Y(1));
  absl::StrAppendFormat(&s,
                        "<polyline fill='none' stroke='#1f77b4' "
                        "stroke-width='2' points='%s'/>\n",
                        points);
  const char* colors[] = {"#2ca02c", "#ff7f0e", "#d62728"};
  const double marks[] = {50, 90, 99};
  for (int i = 0; i < 3; ++i) {
    const double v = PercentileSorted(values, marks[i]);
    absl::StrAppendFormat(&s,
                          "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
                          "stroke='%s' stroke-dasharray='4 3'/>"
                          "<text x='%.1f' y='%.1f' font-size='10' "
                          "fill='%s'>p%g %s</text>\n",
                          p.X(v), y, p.X(v), y + h, colors[i], p.X(v) + 3,
                          y + h - 6 - 12 * i, colors[i], marks[i], Label(v));
  }
}

void Timeline(std::string& s, double x, double y, double w, double h,
              const BenchmarkMetrics& m) {
  double tmax = m.timeline_bucket_s, ymax = 1, fmax = 1;
  for (const TimelinePoint& t : m.timeline) {
    tmax = std::max(tmax, t.t_s + m.timeline_bucket_s);
    ymax = std::max(ymax, t.output_tokens_per_s);
    fmax = std::max(fmax, static_cast<double>(t.in_flight));
  }
  const Panel p{x, y, w, h, tmax, ymax * 1.1};
  Axes(s, p, "Throughput over time", "time since start (s)", "output tokens/s");
  std::string tok, flight;
  for (const TimelinePoint& t : m.timeline) {
    const double mid = t.t_s + m.timeline_bucket_s / 2;
    absl::StrAppendFormat(&tok, "%.1f,%.1f ", p.X(mid),
                          p.Y(t.output_tokens_per_s));
    absl::StrAppendFormat(
        &flight, "%.1f,%.1f ", p.X(mid),
        y + h - h * static_cast<double>(t.in_flight) / (fmax * 1.1));
  }
  absl::StrAppendFormat(&s,
                        "<polyline fill='none' stroke='#1f77b4' "
                        "stroke-width='2' points='%s'/>\n"
                        "<polyline fill='none' stroke='#ff7f0e' "
                        "stroke-width='1.5' points='%s'/>\n",
                        tok, flight);
  // Right axis for requests in flight.
  const double fs = NiceStep(fmax * 1.1);
  for (double v = 0; v <= fmax * 1.1; v += fs) {
    const double py = y + h - h * v / (fmax * 1.1);
    absl::StrAppendFormat(&s,
                          "<text x='%.1f' y='%.1f' font-size='10' "
                          "fill='#ff7f0e'>%s</text>\n",
                          x + w + 4, py + 3, Label(v));
  }
  absl::StrAppendFormat(
      &s,
      "<text x='%.1f' y='%.1f' font-size='11' fill='#1f77b4'>— output "
      "tokens/s</text><text x='%.1f' y='%.1f' font-size='11' "
      "fill='#ff7f0e'>— requests in flight (right axis)</text>\n",
      x + 10, y + 16, x + 10, y + 30);
}

}  // namespace

std::string RenderSvg(const std::string& title, const BenchmarkMetrics& m,
                      absl::Span<const RequestResult> results) {
  const LatencySamples samples = CollectSamples(results);
  std::string s = absl::StrFormat(
      "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
      "viewBox='0 0 %.0f %.0f' font-family='sans-serif'>\n"
      "<rect width='100%%' height='100%%' fill='white'/>\n",
      kWidth, kHeight, kWidth, kHeight);
  absl::StrAppendFormat(
      &s,
      "<text x='%.1f' y='24' font-size='16' font-weight='bold' "
      "text-anchor='middle'>%s</text>\n"
      "<text x='%.1f' y='42' font-size='12' text-anchor='middle'>%d ok, %d "
      "failed, %.2f req/s, %.1f output tok/s over %.1f s</text>\n",
      kWidth / 2, Escape(title), kWidth / 2, m.completed, m.failed,
      m.request_throughput, m.output_throughput, m.duration_s);
  const double pw = 400, ph = 190;
  Cdf(s, 70, 80, pw, ph, "TTFT", samples.ttft_ms);
  Cdf(s, 570, 80, pw, ph, "TPOT", samples.tpot_ms);
  Cdf(s, 70, 330, pw, ph, "ITL", samples.itl_ms);
  Cdf(s, 570, 330, pw, ph, "E2E latency", samples.e2el_ms);
  Timeline(s, 70, 590, 860, 240, m);
  s += "</svg>\n";
  return s;
}

}  // namespace triptych::loadgen
