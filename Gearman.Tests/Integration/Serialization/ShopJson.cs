using System.Text.Json.Serialization;

namespace Gearman.Tests.Integration.Serialization;

/// <summary>An order, the typed request of the examples.</summary>
public sealed record Order(int Id, string Item, int Quantity);

/// <summary>A receipt, the typed result of the examples.</summary>
public sealed record Receipt(int OrderId, string Status);

/// <summary>Source-generated JSON metadata (no reflection), as a trimmed or native-AOT application would use.</summary>
[JsonSerializable(typeof(Order))]
[JsonSerializable(typeof(Receipt))]
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(int))]
internal sealed partial class ShopJson : JsonSerializerContext;
