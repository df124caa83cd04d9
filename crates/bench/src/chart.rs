//! The payload-sweep chart: p50 round trip against payload size, drawn by plotters as SVG.

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

use crate::figure::{bytes_label, Figure, Row};

/// The sweep's points, µs against bytes, one list per series in the order they ran.
fn series(rows: &[Row]) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut out: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for row in rows {
        let (Some(sweep), Figure::RoundTrip(stats)) = (&row.sweep, &row.figure) else { continue };
        let point = (sweep.bytes as f64, stats.p50 / 1000.0);
        match out.iter_mut().find(|(name, _)| *name == sweep.series) {
            Some((_, points)) => points.push(point),
            None => out.push((sweep.series.clone(), vec![point])),
        }
    }
    for (_, points) in &mut out {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// The series' colours, in turn (Tableau 10: distinct on white, none pale).
const COLORS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// A microsecond tick: no more digits than it needs.
fn micros_label(us: f64) -> String {
    let s = if us >= 10.0 { format!("{us:.0}") } else { format!("{us:.3}") };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Draws the sweep rows among `rows` as an SVG chart at `path` (see `Report::write_chart`).
pub(crate) fn draw(rows: &[Row], path: &Path) -> Result<(), Box<dyn Error>> {
    let series = series(rows);
    let points = || series.iter().flat_map(|(_, p)| p.iter().copied());
    let (Some(x_min), Some(x_max)) =
        (points().map(|p| p.0).reduce(f64::min), points().map(|p| p.0).reduce(f64::max))
    else {
        return Err("no payload-sweep row ran: there is nothing to chart".into());
    };
    let y_min = points().map(|p| p.1).fold(f64::INFINITY, f64::min).max(1e-3);
    let y_max = points().map(|p| p.1).fold(0.0, f64::max).max(y_min * 10.0);
    // One tick per size measured.
    let mut sizes: Vec<f64> = points().map(|p| p.0).collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();

    let root = SVGBackend::new(path, (1024, 680)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Round trip between two processes against payload size (p50)", ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_min / 1.5..x_max * 1.5).log_scale().with_key_points(sizes),
            (y_min / 2.0..y_max * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("payload, each way (log scale)")
        .y_desc("round trip p50, µs (log scale)")
        .x_label_formatter(&|b| bytes_label(*b))
        .y_label_formatter(&|us| micros_label(*us))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::{Place, Stats, Sweep};

    #[test]
    fn labels() {
        assert_eq!(micros_label(0.25), "0.25");
        assert_eq!(micros_label(3.0), "3");
        assert_eq!(micros_label(120.4), "120");
    }

    #[test]
    fn draws_every_series() {
        let row = |series: &str, bytes: usize, ns: u64| Row {
            name: format!("{series} {bytes}"),
            figure: Figure::RoundTrip(Stats::from_nanos(vec![ns, ns + 10])),
            place: Place::Processes,
            versus: Vec::new(),
            sweep: Some(Sweep { series: series.to_owned(), bytes }),
            floor_before: None,
            round: 0,
        };
        let rows = vec![
            row("alpha", 8, 300),
            row("alpha", 4096, 900),
            row("beta", 8, 5000),
            row("beta", 4096, 9000),
        ];
        let path = std::env::temp_dir().join(format!("shmkit-bench-chart-{}.svg", std::process::id()));
        draw(&rows, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        for text in ["alpha", "beta", "4 KiB", "payload"] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(draw(&[], &path).is_err());
    }
}
