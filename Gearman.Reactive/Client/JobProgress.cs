namespace Gearman.Reactive.Client;

/// <summary>A worker's progress report (<c>WORK_STATUS</c>): <paramref name="Numerator"/> of <paramref name="Denominator"/>.</summary>
/// <param name="Numerator">Work done.</param>
/// <param name="Denominator">Work in total.</param>
public readonly record struct JobProgress(long Numerator, long Denominator)
{
    /// <summary><see cref="Numerator"/> / <see cref="Denominator"/>, or null when the denominator is 0.</summary>
    public double? Fraction => Denominator == 0 ? null : (double)Numerator / Denominator;
}
